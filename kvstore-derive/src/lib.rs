//! # kvstore-derive
//!
//! `#[derive(Object)]` makes a struct an object kind for kvstore. Use it through the `kvstore`
//! crate, which re-exports it (the `kvstore` crate docs compile this example):
//!
//! ```text
//! use kvstore::{Object, ObjectMeta};
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Object)]
//! #[object(kind = "User", api_version = "v1")]
//! struct User {
//!     metadata: ObjectMeta,
//!     email: String,
//! }
//! ```
//!
//! Attributes on the struct, in `#[object(...)]`:
//! - `kind = "..."` (required): the kind;
//! - `api_version = "..."` (default `"v1"`): the API version, e.g. `example.com/v2`. Several
//!   types may be versions of one kind (same kind and group, another version), registered with
//!   their conversions in a `Scheme` (`Scheme::versions`);
//! - `crate = "path"` (default `kvstore`): where `Object` lives, e.g. `kvstore_core` for crates
//!   that depend on the core crate alone.
//!
//! The metadata field is the field named `metadata`, or the one marked `#[object(metadata)]`.
//! Fields marked `#[object(selectable)]` can be used in field selectors under their name
//! (their value is their `ToString`).

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, LitStr, Path};

/// Implements `Object` for a struct with a metadata field; see the crate docs.
#[proc_macro_derive(Object, attributes(object))]
pub fn derive_object(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

struct KindAttrs {
    kind: Option<LitStr>,
    api_version: Option<LitStr>,
    krate: Option<Path>,
}

fn kind_attrs(input: &DeriveInput) -> syn::Result<KindAttrs> {
    let mut attrs = KindAttrs {
        kind: None,
        api_version: None,
        krate: None,
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("object")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("kind") {
                let kind: LitStr = meta.value()?.parse()?;
                if kind.value().is_empty() {
                    return Err(Error::new(kind.span(), "the kind must not be empty"));
                }
                attrs.kind = Some(kind);
            } else if meta.path.is_ident("api_version") {
                let api_version: LitStr = meta.value()?.parse()?;
                if api_version.value().is_empty() {
                    return Err(Error::new(
                        api_version.span(),
                        "the API version must not be empty",
                    ));
                }
                attrs.api_version = Some(api_version);
            } else if meta.path.is_ident("crate") {
                let path: LitStr = meta.value()?.parse()?;
                attrs.krate = Some(path.parse()?);
            } else {
                return Err(meta.error("expected `kind`, `api_version` or `crate`"));
            }
            Ok(())
        })?;
    }
    Ok(attrs)
}

/// The metadata field, and the fields marked `#[object(selectable)]`.
fn fields_of(input: &DeriveInput) -> syn::Result<(syn::Member, Vec<syn::Ident>)> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            _ => {
                return Err(Error::new_spanned(
                    &input.ident,
                    "#[derive(Object)] needs a struct with named fields",
                ))
            }
        },
        _ => {
            return Err(Error::new_spanned(
                &input.ident,
                "#[derive(Object)] only supports structs",
            ))
        }
    };
    let mut marked = Vec::new();
    let mut selectable = Vec::new();
    for field in fields {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("object")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("metadata") {
                    marked.push(field);
                    Ok(())
                } else if meta.path.is_ident("selectable") {
                    selectable.push(field.ident.clone().expect("named field"));
                    Ok(())
                } else {
                    Err(meta.error("expected `metadata` or `selectable`"))
                }
            })?;
        }
    }
    let field = match marked.as_slice() {
        [one] => *one,
        [] => fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == "metadata"))
            .ok_or_else(|| {
                Error::new_spanned(
                    &input.ident,
                    "no metadata field: add `metadata: ObjectMeta` or mark the field with \
                     #[object(metadata)]",
                )
            })?,
        [_, second, ..] => {
            return Err(Error::new_spanned(
                second.ident.as_ref(),
                "only one field may be #[object(metadata)]",
            ))
        }
    };
    Ok((
        syn::Member::Named(field.ident.clone().expect("named field")),
        selectable,
    ))
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let attrs = kind_attrs(input)?;
    let (field, selectable) = fields_of(input)?;
    let names = selectable.iter().map(|ident| ident.to_string());
    let kind = attrs.kind.ok_or_else(|| {
        Error::new_spanned(
            &input.ident,
            "missing kind: add #[object(kind = \"...\")] to the struct",
        )
    })?;
    let api_version = attrs
        .api_version
        .unwrap_or_else(|| LitStr::new("v1", Span::call_site()));
    let krate = attrs.krate.unwrap_or_else(|| syn::parse_quote!(::kvstore));
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::Object for #ident #type_generics #where_clause {
            const KIND: &'static str = #kind;
            const API_VERSION: &'static str = #api_version;
            fn metadata(&self) -> &#krate::ObjectMeta {
                &self.#field
            }
            fn metadata_mut(&mut self) -> &mut #krate::ObjectMeta {
                &mut self.#field
            }
            fn field(&self, name: &str) -> ::std::option::Option<::std::string::String> {
                match name {
                    #(#names => ::std::option::Option::Some(::std::string::ToString::to_string(&self.#selectable)),)*
                    _ => ::std::option::Option::None,
                }
            }
        }
    })
}
