//! Open (forward-compatible) string enums.
//!
//! typify turns a schema `enum` of strings into a closed Rust enum whose `Deserialize` fails on a
//! value it does not list, so a consumer built against an older crate could not read an event once
//! a newer schema added a value (issue 22, finding 12). Every such enum is rewritten here: it gains
//! a catch-all variant [`OTHER`] holding the value as it came, `Deserialize` never fails on a
//! string, `Serialize` writes the value back unchanged (round trip), and `Copy` is dropped (the
//! catch-all owns a `String`).
//!
//! Strictness on *input* is not the type's job: the processor checks every column against the
//! table's JSON Schema (its `enum` list) before publishing, so values outside the schema are still
//! rejected there.

use crate::{SchemaError, TableSchema};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The name of the catch-all variant (`Other(String)`, as `consumer_sdk::Redaction::Other`).
pub(crate) const OTHER: &str = "Other";

/// One closed string enum typify made: its name and `(variant, value)` pairs in schema order.
struct StringEnum {
    ident: syn::Ident,
    variants: Vec<(syn::Ident, String)>,
}

/// The value a unit variant stands for: its `#[serde(rename = "…")]`, else its name.
fn variant_value(v: &syn::Variant) -> String {
    let mut value = None;
    for attr in &v.attrs {
        if attr.path().is_ident("serde") {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    value = Some(lit.value());
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
        }
    }
    value.unwrap_or_else(|| v.ident.to_string())
}

fn derives_serde(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("derive") && {
            let text = quote!(#a).to_string().replace(' ', "");
            text.contains("Deserialize") && text.contains("Serialize")
        }
    })
}

/// The type an `impl` block is for, when it is a plain identifier.
fn impl_self(item: &syn::ItemImpl) -> Option<&syn::Ident> {
    let syn::Type::Path(p) = &*item.self_ty else {
        return None;
    };
    p.path.get_ident()
}

/// The last segment of an `impl`'s trait (`Display`, `FromStr`, `TryFrom`, …).
fn impl_trait(item: &syn::ItemImpl) -> Option<String> {
    let path = &item.trait_.as_ref()?.0;
    path.segments.last().map(|s| s.ident.to_string())
}

/// Rewrites every closed string enum of a typify output into an open one (see the module docs).
pub(crate) fn open_enums(file: &mut syn::File, t: &TableSchema) -> Result<(), SchemaError> {
    let mut enums = Vec::new();
    for item in &mut file.items {
        let syn::Item::Enum(e) = item else { continue };
        let unit = !e.variants.is_empty()
            && e.variants
                .iter()
                .all(|v| matches!(v.fields, syn::Fields::Unit));
        if !unit || !derives_serde(&e.attrs) {
            continue;
        }
        if e.variants.iter().any(|v| v.ident == OTHER) {
            return Err(SchemaError::new(
                &t.file,
                "/properties",
                format!(
                    "enum `{}` has a value whose Rust name is `{OTHER}`, the name of the catch-all \
                     variant every generated enum gets for values added later; use another value",
                    e.ident
                ),
            ));
        }
        let variants = e
            .variants
            .iter()
            .map(|v| (v.ident.clone(), variant_value(v)))
            .collect();
        for v in e.variants.iter_mut() {
            v.attrs.retain(|a| !a.path().is_ident("serde"));
        }
        e.attrs.retain(|a| !a.path().is_ident("serde"));
        // `Copy`, `Serialize` and `Deserialize` are written by hand below.
        crate::attrs::strip_derives(&mut e.attrs, &["Copy", "Serialize", "Deserialize"]);
        let other = format_ident!("{}", OTHER);
        let variant: syn::Variant = syn::parse_quote! {
            /// A value this version of the schema does not list (a newer schema added it), kept
            /// exactly as it came and written back unchanged. The processor never publishes a
            /// value its own schema does not list, so this only appears in a consumer built
            /// against an older `cdc-models` than the pipeline's.
            #other(::std::string::String)
        };
        e.variants.push(variant);
        enums.push(StringEnum {
            ident: e.ident.clone(),
            variants,
        });
    }
    if enums.is_empty() {
        return Ok(());
    }
    // typify's conversions assume a closed enum (`TryFrom` fails, `match *self` copies): replaced.
    file.items.retain(|item| {
        let syn::Item::Impl(i) = item else {
            return true;
        };
        let Some(ty) = impl_self(i) else { return true };
        let replaced = impl_trait(i)
            .is_some_and(|tr| matches!(tr.as_str(), "Display" | "FromStr" | "TryFrom"));
        !(replaced && enums.iter().any(|e| e.ident == *ty))
    });
    for e in &enums {
        let extra: syn::File = syn::parse2(open_impls(e)).expect("generated enum impls parse");
        file.items.extend(extra.items);
    }
    Ok(())
}

fn open_impls(e: &StringEnum) -> TokenStream {
    let ident = &e.ident;
    let other = format_ident!("{}", OTHER);
    let idents: Vec<&syn::Ident> = e.variants.iter().map(|(i, _)| i).collect();
    let values: Vec<&str> = e.variants.iter().map(|(_, v)| v.as_str()).collect();
    let expecting = format!("a string (a `{ident}` value)");
    quote! {
        impl #ident {
            /// Every value the schema lists, in schema order.
            pub const VALUES: &'static [&'static str] = &[#(#values),*];

            /// The value as it appears in events.
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#idents => #values, )*
                    Self::#other(value) => value,
                }
            }

            /// Whether the schema this crate was generated from lists the value (`false` for
            /// a value a newer schema added).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::#other(_))
            }
        }

        impl ::std::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::From<&str> for #ident {
            fn from(value: &str) -> Self {
                match value {
                    #( #values => Self::#idents, )*
                    other => Self::#other(other.to_string()),
                }
            }
        }

        impl ::std::convert::From<::std::string::String> for #ident {
            fn from(value: ::std::string::String) -> Self {
                match value.as_str() {
                    #( #values => Self::#idents, )*
                    _ => Self::#other(value),
                }
            }
        }

        impl ::std::str::FromStr for #ident {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl ::serde::Serialize for #ident {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #ident {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                struct Visitor;
                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = #ident;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(#expecting)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, value: &str) -> ::std::result::Result<#ident, E> {
                        Ok(#ident::from(value))
                    }
                    fn visit_string<E: ::serde::de::Error>(self, value: ::std::string::String) -> ::std::result::Result<#ident, E> {
                        Ok(#ident::from(value))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    }
}
