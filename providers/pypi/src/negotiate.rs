//! PEP 691 content negotiation: which representation of a simple-API page
//! the `Accept` header asks for.

use crate::render::Repr;

/// Our representations in the order used to break ties of equal quality:
/// the plain HTML first, as PEP 691 asks of servers when unsure.
const OURS: [(Repr, &str, &str); 5] = [
    (Repr::Html, "text", "html"),
    (Repr::V1Html, "application", "vnd.pypi.simple.v1+html"),
    (Repr::V1Html, "application", "vnd.pypi.simple.latest+html"),
    (Repr::V1Json, "application", "vnd.pypi.simple.v1+json"),
    (Repr::V1Json, "application", "vnd.pypi.simple.latest+json"),
];

/// The representation to send, or `None` if the header rules out all of
/// them (406). No header means `text/html`.
pub fn choose(accept: Option<&str>) -> Option<Repr> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Repr::Html);
    };
    let ranges: Vec<(&str, &str, f32)> = artifactd_provider_api::weighted(accept)
        .filter_map(|(range, q)| {
            let (ty, sub) = range.split_once('/')?;
            Some((ty.trim(), sub.trim(), q))
        })
        .collect();
    // Per representation: the quality of the most specific matching range.
    let mut best: Option<(f32, u8, usize, Repr)> = None;
    for (order, (repr, ty, sub)) in OURS.iter().enumerate() {
        let matched = ranges
            .iter()
            .filter_map(|&(rt, rs, q)| {
                let specificity = if rt.eq_ignore_ascii_case(ty) && rs.eq_ignore_ascii_case(sub) {
                    2
                } else if rt.eq_ignore_ascii_case(ty) && rs == "*" {
                    1
                } else if rt == "*" && rs == "*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, q))
            })
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((specificity, q)) = matched else {
            continue;
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, bs, _, _)) => q > bq || (q == bq && specificity > bs),
        };
        if better {
            best = Some((q, specificity, order, *repr));
        }
    }
    best.map(|(.., r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_clients_send() {
        // pip and uv
        assert_eq!(
            choose(Some(
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
            )),
            Some(Repr::V1Json)
        );
        // a browser
        assert_eq!(
            choose(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            )),
            Some(Repr::Html)
        );
        assert_eq!(choose(None), Some(Repr::Html));
        assert_eq!(choose(Some("*/*")), Some(Repr::Html));
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.latest+json")),
            Some(Repr::V1Json)
        );
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+html")),
            Some(Repr::V1Html)
        );
        assert_eq!(choose(Some("application/*")), Some(Repr::V1Html));
        assert_eq!(choose(Some("image/png")), None);
        assert_eq!(choose(Some("text/html;q=0")), None);
        assert_eq!(
            choose(Some("*/*;q=0.5, application/vnd.pypi.simple.v1+json;q=0")),
            Some(Repr::Html)
        );
    }
}
