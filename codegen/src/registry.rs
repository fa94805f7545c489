//! The generated registry (`mod.rs`): one module per table, the `Table` enum, `AnyImage`,
//! `AnyKey` and the `for_each_table!` macro.

use crate::emit::{crate_path, image_ident, key_ident};
use crate::names::pascal;
use crate::schema::TableSchema;
use crate::{header, Settings};
use quote::{format_ident, quote};

/// Generates `mod.rs`: module declarations, the `Table` registry, `AnyImage`, `AnyKey` and the
/// `for_each_table!` macro.
pub(crate) fn registry(tables: &[TableSchema], settings: &Settings) -> String {
    let c = crate_path(settings);
    let mods: Vec<syn::Ident> = tables.iter().map(|t| format_ident!("{}", t.name)).collect();
    let variants: Vec<syn::Ident> = tables
        .iter()
        .map(|t| format_ident!("{}", pascal(&t.name)))
        .collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows: Vec<syn::Ident> = tables
        .iter()
        .map(|t| format_ident!("{}", t.title))
        .collect();
    let images: Vec<syn::Ident> = tables.iter().map(image_ident).collect();
    let keys: Vec<syn::Ident> = tables.iter().map(key_ident).collect();
    let mod_docs: Vec<String> = tables
        .iter()
        .map(|t| format!("Table `{}`.", t.name))
        .collect();
    let variant_docs: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "`{}` ({}): {}",
                t.name,
                t.category,
                t.description.replace('\n', " ")
            )
        })
        .collect();
    let count = tables.len();

    let tokens = quote! {
        #( #[doc = #mod_docs] pub mod #mods; )*

        /// Every CoreDB table the pipeline knows, generated from `model-schemas/`.
        ///
        /// `#[non_exhaustive]`: new tables are added without a breaking release.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[non_exhaustive]
        pub enum Table {
            #( #[doc = #variant_docs] #[serde(rename = #names)] #variants, )*
        }

        impl Table {
            /// Every table, sorted by name.
            pub const ALL: &'static [Table] = &[#(Table::#variants),*];
            /// Number of tables.
            pub const COUNT: usize = #count;

            /// The table's position in [`Table::ALL`] (for per-table arrays).
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The table's metadata.
            pub fn meta(self) -> &'static #c::TableMeta {
                match self { #( Table::#variants => &#mods::META, )* }
            }

            /// The table name.
            pub fn name(self) -> &'static str {
                self.meta().name
            }

            /// The model schema (JSON text) the table was generated from.
            pub fn schema_json(self) -> &'static str {
                match self { #( Table::#variants => #mods::SCHEMA_JSON, )* }
            }

            /// The table with this name.
            pub fn from_name(name: &str) -> ::std::option::Option<Table> {
                match name {
                    #( #names => Some(Table::#variants), )*
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for Table {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// A change image of any table, one variant per table.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum AnyImage {
            #( #[doc = #mod_docs] #variants(#mods::#images), )*
        }

        impl AnyImage {
            /// Deserializes an image of `table`.
            pub fn deserialize<'de, D: ::serde::Deserializer<'de>>(table: Table, deserializer: D) -> ::std::result::Result<Self, D::Error> {
                match table {
                    #( Table::#variants => <#mods::#images as ::serde::Deserialize>::deserialize(deserializer).map(AnyImage::#variants), )*
                }
            }

            /// Deserializes an image of `table` into a box.
            ///
            /// The same as boxing [`AnyImage::deserialize`]'s result, without moving the whole
            /// enum (the size of the largest table's image) through the result and into the box:
            /// only the table's own image is moved.
            pub fn deserialize_boxed<'de, D: ::serde::Deserializer<'de>>(table: Table, deserializer: D) -> ::std::result::Result<::std::boxed::Box<Self>, D::Error> {
                match table {
                    #( Table::#variants => <#mods::#images as ::serde::Deserialize>::deserialize(deserializer).map(|image| ::std::boxed::Box::new(AnyImage::#variants(image))), )*
                }
            }

            /// The table of this image.
            pub fn table(&self) -> Table {
                match self { #( AnyImage::#variants(_) => Table::#variants, )* }
            }

            /// The image as a trait object.
            pub fn as_dyn(&self) -> &dyn #c::DynImage {
                match self { #( AnyImage::#variants(i) => i, )* }
            }

            /// The image as a mutable trait object.
            pub fn as_dyn_mut(&mut self) -> &mut dyn #c::DynImage {
                match self { #( AnyImage::#variants(i) => i, )* }
            }

            /// Writes the image as a JSON object: the same bytes as `serde_json::to_writer`.
            pub fn write_json(&self, out: &mut ::std::vec::Vec<u8>) -> ::serde_json::Result<()> {
                match self { #( AnyImage::#variants(i) => #c::TableImage::write_json(i, out), )* }
            }

            /// The key of this image, if every key column is present.
            pub fn key(&self) -> ::std::option::Option<AnyKey> {
                match self { #( AnyImage::#variants(i) => #c::TableImage::key(i).map(AnyKey::#variants), )* }
            }
        }

        impl ::serde::Serialize for AnyImage {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self { #( AnyImage::#variants(i) => i.serialize(serializer), )* }
            }
        }

        /// The primary key of a row of any table, one variant per table.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum AnyKey {
            #( #[doc = #mod_docs] #variants(#mods::#keys), )*
        }

        impl AnyKey {
            /// Deserializes a key of `table`.
            pub fn deserialize<'de, D: ::serde::Deserializer<'de>>(table: Table, deserializer: D) -> ::std::result::Result<Self, D::Error> {
                match table {
                    #( Table::#variants => <#mods::#keys as ::serde::Deserialize>::deserialize(deserializer).map(AnyKey::#variants), )*
                }
            }

            /// The table of this key.
            pub fn table(&self) -> Table {
                match self { #( AnyKey::#variants(_) => Table::#variants, )* }
            }

            /// Writes the key as a JSON object: the same bytes as `serde_json::to_writer`.
            pub fn write_json(&self, out: &mut ::std::vec::Vec<u8>) -> ::serde_json::Result<()> {
                match self { #( AnyKey::#variants(k) => k.write_json(out), )* }
            }
        }

        impl ::serde::Serialize for AnyKey {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self { #( AnyKey::#variants(k) => k.serialize(serializer), )* }
            }
        }

        /// Calls `$callback! { (Variant, module, Row, Image, Key), ... }` with every table, so other
        /// crates can build their own per-table types without depending on the generator.
        #[macro_export]
        macro_rules! for_each_table {
            ($callback:ident) => {
                $callback! { #( (#variants, #mods, #rows, #images, #keys) ),* }
            };
        }
    };
    let file: syn::File = syn::parse2(tokens).expect("registry parses");
    let mut out = header("model-schemas/*.json");
    out.push_str(
        "//! The generated table registry: one module per table, and the types that span them.\n\n",
    );
    out.push_str(&prettyplease::unparse(&file));
    out
}
