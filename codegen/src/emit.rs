//! typify → syn → quote → prettyplease.

use crate::names::pascal;
use crate::schema::{ColumnSchema, Policy, TableSchema};
use crate::{header, SchemaError, Settings};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use typify::{TypeSpace, TypeSpaceSettings};

/// The typify field that holds one column.
struct Field<'a> {
    col: &'a ColumnSchema,
    ident: syn::Ident,
    /// The column's value type (without the `Option` of nullable columns).
    inner: syn::Type,
}

fn typify_settings() -> TypeSpaceSettings {
    let mut s = TypeSpaceSettings::default();
    s.with_struct_builder(false);
    s.with_derive("PartialEq".to_string());
    s
}

pub(crate) fn crate_path(settings: &Settings) -> syn::Path {
    syn::parse_str(&settings.crate_path).expect("crate path is a Rust path")
}

/// Runs typify on one table, catching a panic inside it.
fn run_typify(t: &TableSchema) -> Result<TokenStream, SchemaError> {
    let root: schemars::schema::RootSchema = serde_json::from_value(t.raw.clone())
        .map_err(|e| SchemaError::new(&t.file, "", format!("not a schema typify can read: {e}")))?;
    let result = std::panic::catch_unwind(move || {
        let mut space = TypeSpace::new(&typify_settings());
        space
            .add_root_schema(root)
            .map(|_| space.to_stream())
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(e)) => Err(SchemaError::new(
            &t.file,
            "",
            format!("typify rejected the schema: {e}"),
        )),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(SchemaError::new(
                &t.file,
                "",
                format!("typify panicked: {msg}"),
            ))
        }
    }
}

fn serde_rename(field: &syn::Field) -> Option<String> {
    let mut rename = None;
    for attr in &field.attrs {
        if attr.path().is_ident("serde") {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    rename = Some(lit.value());
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
        }
    }
    rename
}

fn option_inner(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// The name of the field that keeps a nested object's unnamed members.
const UNKNOWN_MEMBERS: &str = "additional_properties";

/// Gives every struct typify made for a nested (jsonb) object that allows members its schema does
/// not name (no `deny_unknown_fields`, i.e. `additionalProperties` is not `false`) a flattened map
/// that keeps them, so they are published as the source sent them instead of silently dropped.
/// The row struct is left alone: unknown *columns* are the processor's to drop and count.
fn keep_unknown_members(file: &mut syn::File, row: &syn::Ident) {
    for item in &mut file.items {
        let syn::Item::Struct(s) = item else { continue };
        if s.ident == *row {
            continue;
        }
        let syn::Fields::Named(named) = &mut s.fields else {
            continue;
        };
        let attrs = |attrs: &[syn::Attribute]| {
            attrs
                .iter()
                .map(|a| quote!(#a).to_string().replace(' ', ""))
                .collect::<Vec<_>>()
                .join("")
        };
        let own = attrs(&s.attrs);
        let deserializes = own.contains("Deserialize");
        let denies = own.contains("deny_unknown_fields");
        // A map is neither `Hash` nor `Ord`; such a struct is left as it is.
        let hashed = own.contains("Hash") || own.contains("Ord");
        let has_map = named.named.iter().any(|f| {
            attrs(&f.attrs).contains("flatten")
                || f.ident.as_ref().is_some_and(|i| i == UNKNOWN_MEMBERS)
        });
        if !deserializes || denies || hashed || has_map {
            continue;
        }
        let ident = format_ident!("{}", UNKNOWN_MEMBERS);
        let field: syn::FieldsNamed = syn::parse_quote!({
            /// Members the schema does not name (it allows them), kept as they came and
            /// written back in place: a newer schema's members reach consumers unchanged.
            #[serde(flatten)]
            pub #ident: ::serde_json::Map<::std::string::String, ::serde_json::Value>
        });
        named.named.extend(field.named);
    }
}

fn policy_tokens(c: &syn::Path, p: Policy) -> TokenStream {
    match p {
        Policy::Remove => quote!(#c::RedactPolicy::Remove),
        Policy::Mask => quote!(#c::RedactPolicy::Mask),
        Policy::Hash => quote!(#c::RedactPolicy::Hash),
        Policy::Partial(n) => quote!(#c::RedactPolicy::Partial { keep_last: #n }),
    }
}

/// The function `write_json` writes a value of this Rust type with: the fast writer
/// (`cdc_models::json::WriteJson`) of the common column types, `serde_json` for the rest (typify's
/// enums, newtypes, nested objects, floats).
fn value_writer(c: &syn::Path, ty: &syn::Type) -> TokenStream {
    let spelled = quote!(#ty).to_string().replace(' ', "");
    match spelled.as_str() {
        "::uuid::Uuid"
        | "::chrono::DateTime<::chrono::offset::Utc>"
        | "::chrono::naive::NaiveDate"
        | "::std::string::String"
        | "::std::num::NonZeroU64"
        | "i64"
        | "u64"
        | "bool" => quote!(#c::json::WriteJson::write_json),
        _ => quote!(#c::json::write_serde),
    }
}

/// `"name":` as JSON bytes, escaped at generation time.
fn key_literal(name: &str) -> syn::LitByteStr {
    let mut key = serde_json::to_string(name).expect("a string serializes");
    key.push(':');
    syn::LitByteStr::new(key.as_bytes(), proc_macro2::Span::call_site())
}

/// Whether the column's type is the timestamp type typify produces for `format: date-time`.
fn is_datetime(ty: &syn::Type) -> bool {
    quote!(#ty).to_string().replace(' ', "") == "::chrono::DateTime<::chrono::offset::Utc>"
}

fn is_uuid(ty: &syn::Type) -> bool {
    quote!(#ty).to_string().replace(' ', "") == "::uuid::Uuid"
}

pub(crate) fn image_ident(t: &TableSchema) -> syn::Ident {
    format_ident!("{}Image", t.title)
}
pub(crate) fn key_ident(t: &TableSchema) -> syn::Ident {
    format_ident!("{}Key", t.title)
}

/// Generates the module of one table.
pub(crate) fn table_module(t: &TableSchema, settings: &Settings) -> Result<String, SchemaError> {
    let c = crate_path(settings);
    let tokens = run_typify(t)?;
    let mut file: syn::File = syn::parse2(tokens)
        .map_err(|e| SchemaError::new(&t.file, "", format!("typify output does not parse: {e}")))?;

    let row = format_ident!("{}", t.title);
    let image = image_ident(t);
    let key = key_ident(t);
    for item in &file.items {
        let ident = match item {
            syn::Item::Struct(s) => Some(&s.ident),
            syn::Item::Enum(e) => Some(&e.ident),
            syn::Item::Type(e) => Some(&e.ident),
            _ => None,
        };
        if let Some(ident) = ident {
            if *ident == image || *ident == key {
                return Err(SchemaError::new(
                    &t.file,
                    "/properties",
                    format!("a column's generated type `{ident}` collides with the generated `{ident}`; rename the column"),
                ));
            }
        }
    }

    let mut typify_fields: Vec<(String, syn::Ident, syn::Type)> = Vec::new();
    let mut found_row = false;
    for item in &mut file.items {
        if let syn::Item::Struct(s) = item {
            if s.ident == row {
                found_row = true;
                crate::attrs::strip_derives(&mut s.attrs, &["Debug"]);
                for f in &s.fields {
                    let ident = f.ident.clone().expect("typify structs have named fields");
                    let name = serde_rename(f).unwrap_or_else(|| ident.to_string());
                    typify_fields.push((name, ident, f.ty.clone()));
                }
            }
        }
    }
    keep_unknown_members(&mut file, &row);
    crate::open_enum::open_enums(&mut file, t)?;
    if !found_row {
        return Err(SchemaError::new(
            &t.file,
            "/title",
            format!("typify produced no struct named `{row}`"),
        ));
    }
    let mut fields = Vec::new();
    for col in &t.columns {
        let Some((_, ident, ty)) = typify_fields.iter().find(|(n, _, _)| *n == col.name) else {
            return Err(SchemaError::new(
                &t.file,
                format!("/properties/{}", col.name),
                "typify produced no field for this column",
            ));
        };
        let inner = if col.nullable {
            option_inner(ty).ok_or_else(|| {
                SchemaError::new(
                    &t.file,
                    format!("/properties/{}", col.name),
                    "nullable column did not become an Option",
                )
            })?
        } else {
            ty.clone()
        };
        fields.push(Field {
            col,
            ident: ident.clone(),
            inner,
        });
    }

    let extra = extra_items(t, &fields, &c);
    let extra: syn::File = syn::parse2(extra).expect("generated items parse");
    file.items.extend(extra.items);

    let mut out = header(&format!("model-schemas/{}", t.file));
    out.push_str(&format!(
        "//! Table `{}`: {}\n\n",
        t.name,
        t.description.replace('\n', " ")
    ));
    out.push_str(&prettyplease::unparse(&file));
    Ok(out)
}

fn extra_items(t: &TableSchema, fields: &[Field<'_>], c: &syn::Path) -> TokenStream {
    let row = format_ident!("{}", t.title);
    let image = image_ident(t);
    let key = key_ident(t);
    let title = &t.title;
    let table_variant = format_ident!("{}", pascal(&t.name));
    let n = fields.len();
    let skip_path = format!(
        "{}::Column::is_absent",
        quote!(#c).to_string().replace(' ', "")
    );
    let all_bits: u128 = if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    };
    let not_null_bits: u128 = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.col.nullable)
        .fold(0, |acc, (i, _)| acc | (1u128 << i));

    let names: Vec<&str> = fields.iter().map(|f| f.col.name.as_str()).collect();
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| &f.ident).collect();
    let inners: Vec<&syn::Type> = fields.iter().map(|f| &f.inner).collect();
    let idx: Vec<usize> = (0..n).collect();
    let docs: Vec<String> = fields
        .iter()
        .map(|f| {
            let d = f
                .col
                .schema
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_string();
            match f.col.policy {
                Some(p) => format!("{d}\n\nRedaction: `{}`.", policy_name(p)),
                None => d,
            }
        })
        .collect();

    let image_writes: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let ident = &f.ident;
            let key = key_literal(&f.col.name);
            let write = value_writer(c, &f.inner);
            quote!(#c::json::write_column(out, &mut first, #key, &self.#ident, #write)?;)
        })
        .collect();
    let image_serde_attrs: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let name = &f.col.name;
            // Timestamps and UUIDs, the commonest column types after strings and integers, have
            // their own fast readers (same values and errors as their `Deserialize`).
            let reader = if is_datetime(&f.inner) {
                Some("deserialize_datetime_column")
            } else if is_uuid(&f.inner) {
                Some("deserialize_uuid_column")
            } else {
                None
            };
            if let Some(reader) = reader {
                let with = format!(
                    "{}::json::{reader}",
                    quote!(#c).to_string().replace(' ', "")
                );
                quote!(#[serde(rename = #name, default, skip_serializing_if = #skip_path, deserialize_with = #with)])
            } else {
                quote!(#[serde(rename = #name, default, skip_serializing_if = #skip_path)])
            }
        })
        .collect();

    let debug_value = |f: &Field<'_>, base: TokenStream| {
        let ident = &f.ident;
        if f.col.policy.is_some() {
            quote!(&#c::Sensitive(&#base.#ident))
        } else {
            quote!(&#base.#ident)
        }
    };
    let row_debug: Vec<TokenStream> = fields
        .iter()
        .map(|f| debug_value(f, quote!(self)))
        .collect();
    let image_debug = row_debug.clone();

    let to_row: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let ident = &f.ident;
            if f.col.nullable {
                quote!(#ident: self.#ident.into_value())
            } else {
                quote!(#ident: match self.#ident {
                    #c::Column::Value(v) => v,
                    _ => unreachable!("presence and NOT NULL checked above"),
                })
            }
        })
        .collect();
    let from_row: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let ident = &f.ident;
            if f.col.nullable {
                quote!(#ident: #c::Column::from_nullable(row.#ident))
            } else {
                quote!(#ident: #c::Column::Value(row.#ident))
            }
        })
        .collect();
    let project: Vec<TokenStream> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.col.key)
        .map(|(i, f)| {
            let ident = &f.ident;
            quote!(if !projection.contains(#i) { self.#ident = #c::Column::Absent; })
        })
        .collect();
    let redact: Vec<TokenStream> = fields
        .iter()
        .filter_map(|f| {
            let p = f.col.policy?;
            let ident = &f.ident;
            let name = &f.col.name;
            let pt = policy_tokens(c, p);
            Some(if p == Policy::Remove {
                quote!(if self.#ident.is_present() {
                    self.#ident = #c::Column::Absent;
                    applied.push(#name, #pt);
                })
            } else {
                quote!(if let #c::Column::Value(v) = &mut self.#ident {
                    redactor.apply_str(#pt, v);
                    applied.push(#name, #pt);
                })
            })
        })
        .collect();
    let (redactor_arg, applied_arg) = if redact.is_empty() {
        (quote!(_redactor), quote!(_applied))
    } else {
        (quote!(redactor), quote!(applied))
    };

    let key_fields: Vec<&Field<'_>> = t
        .primary_key
        .iter()
        .map(|k| {
            fields
                .iter()
                .find(|f| &f.col.name == k)
                .expect("checked key")
        })
        .collect();
    let key_names: Vec<&str> = key_fields.iter().map(|f| f.col.name.as_str()).collect();
    let key_idents: Vec<&syn::Ident> = key_fields.iter().map(|f| &f.ident).collect();
    let key_types: Vec<&syn::Type> = key_fields.iter().map(|f| &f.inner).collect();
    let key_writes: Vec<TokenStream> = key_fields
        .iter()
        .map(|f| {
            let ident = &f.ident;
            let key = key_literal(&f.col.name);
            let write = value_writer(c, &f.inner);
            quote! {
                #c::json::write_key(out, &mut first, #key);
                #write(out, &self.#ident)?;
            }
        })
        .collect();

    let field_metas: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let policy = f.col.policy.map(|p| policy_tokens(c, p));
            crate::rules::field_meta(f.col, policy, c)
        })
        .collect();
    let (declared, next) = crate::rules::declared_indices(&t.declared_order, &names);
    let key_bits = crate::rules::bits_literal(
        fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.col.key)
            .fold(0, |acc, (i, _)| acc | (1u128 << i)),
    );
    let not_null_lit = crate::rules::bits_literal(not_null_bits);
    let all_lit = crate::rules::bits_literal(all_bits);
    let include = match &t.include {
        None => quote!(#c::Include::All),
        Some(list) => quote!(#c::Include::Fields(&[#(#list),*])),
    };
    let table_name = &t.name;
    let event_type = &t.event_type;
    let category = format_ident!("{}", pascal(&t.category));
    let pk = &t.primary_key;
    let captured = t.captured_by_default;
    let schema_version = t.version;
    let schema_path = format!("schemas/{}", t.file);
    let image_doc = format!(
        "A change image of table `{}`: every column may be absent (partial image), `NULL` or a value.\n\n`Debug` never prints the value of a column with a redaction policy.",
        t.name
    );
    let key_doc = format!("The primary key of table `{}`.", t.name);

    quote! {
        impl ::std::fmt::Debug for #row {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#title)
                    #( .field(#names, #row_debug) )*
                    .finish()
            }
        }

        #[doc = #image_doc]
        #[derive(Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        pub struct #image {
            #(
                #[doc = #docs]
                #image_serde_attrs
                pub #idents: #c::Column<#inners>,
            )*
        }

        impl ::std::default::Default for #image {
            fn default() -> Self {
                Self { #( #idents: #c::Column::Absent, )* }
            }
        }

        impl ::std::fmt::Debug for #image {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut s = f.debug_struct(stringify!(#image));
                #( if self.#idents.is_present() { s.field(#names, #image_debug); } )*
                s.finish()
            }
        }

        #[doc = #key_doc]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub struct #key {
            #(
                #[serde(rename = #key_names)]
                pub #key_idents: #key_types,
            )*
        }

        impl #c::TableImage for #image {
            type Row = #row;
            type Key = #key;
            const TABLE: #c::Table = #c::Table::#table_variant;

            fn present_bits(&self) -> u128 {
                let mut bits = 0u128;
                #( if self.#idents.is_present() { bits |= 1u128 << #idx; } )*
                bits
            }

            fn null_bits(&self) -> u128 {
                let mut bits = 0u128;
                #( if self.#idents.is_null() { bits |= 1u128 << #idx; } )*
                bits
            }

            fn redact(&mut self, #redactor_arg: &#c::Redactor, #applied_arg: &mut #c::Redactions) {
                #( #redact )*
            }

            fn project(&mut self, projection: &#c::Projection) {
                #( #project )*
            }

            fn key(&self) -> ::std::option::Option<#key> {
                Some(#key { #( #key_idents: self.#key_idents.value()?.clone(), )* })
            }

            fn into_row(self) -> ::std::result::Result<#row, Self> {
                const ALL: u128 = #all_lit;
                const NOT_NULL: u128 = #not_null_lit;
                if #c::TableImage::present_bits(&self) != ALL
                    || #c::TableImage::null_bits(&self) & NOT_NULL != 0
                {
                    return Err(self);
                }
                Ok(#row { #( #to_row, )* })
            }

            fn from_row(row: #row) -> Self {
                Self { #( #from_row, )* }
            }

            fn write_json(&self, out: &mut ::std::vec::Vec<u8>) -> ::serde_json::Result<()> {
                out.push(b'{');
                let mut first = true;
                #( #image_writes )*
                let _ = first;
                out.push(b'}');
                Ok(())
            }
        }

        impl #key {
            /// Writes the key as a JSON object: the same bytes as `serde_json::to_writer`.
            pub fn write_json(&self, out: &mut ::std::vec::Vec<u8>) -> ::serde_json::Result<()> {
                out.push(b'{');
                let mut first = true;
                #( #key_writes )*
                let _ = first;
                out.push(b'}');
                Ok(())
            }
        }

        /// Metadata of this table, from its schema's `x-cdc` and `x-redact` annotations.
        pub static META: #c::TableMeta = #c::TableMeta {
            name: #table_name,
            type_name: #title,
            event_type: #event_type,
            category: #c::Category::#category,
            primary_key: &[#(#pk),*],
            include: #include,
            captured_by_default: #captured,
            schema_version: #schema_version,
            fields: &[#(#field_metas),*],
            declared_order: &[#(#declared),*],
            declared_next: &[#(#next),*],
            key_bits: #key_bits,
            not_null_bits: #not_null_lit,
        };

        /// The model schema this module was generated from.
        pub const SCHEMA_JSON: &str = include_str!(#schema_path);
    }
}

fn policy_name(p: Policy) -> String {
    match p {
        Policy::Remove => "remove".into(),
        Policy::Mask => "mask".into(),
        Policy::Hash => "hash".into(),
        Policy::Partial(n) => format!("partial, keep last {n}"),
    }
}
