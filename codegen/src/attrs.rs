//! Edits of the attributes typify writes.

/// Removes the derives named in `remove` (by their last path segment) from `attrs`: typify's
/// derives that the generator writes by hand instead.
pub(crate) fn strip_derives(attrs: &mut [syn::Attribute], remove: &[&str]) {
    for attr in attrs.iter_mut() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let kept: Vec<_> = paths
            .into_iter()
            .filter(|p| {
                p.segments
                    .last()
                    .is_none_or(|s| !remove.iter().any(|r| s.ident == r))
            })
            .collect();
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
    }
}
