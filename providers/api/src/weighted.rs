//! HTTP's weighted lists (`Accept`, `Accept-Encoding`): the server reads
//! one to choose an encoding, providers another to choose a representation.

/// The items of a header like `gzip, br;q=0.5, *;q=0` with their quality
/// (1 when absent); parameters other than `q` are dropped.
pub fn weighted(header: &str) -> impl Iterator<Item = (&str, f32)> {
    header.split(',').filter_map(|part| {
        let mut it = part.split(';');
        let item = it.next()?.trim();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (!item.is_empty()).then_some((item, q))
    })
}

#[cfg(test)]
mod tests {
    use super::weighted;

    #[test]
    fn items_and_qualities() {
        let v: Vec<_> = weighted("gzip, br;q=0.5 , text/html; level=1; q=0, ,x;q=bad").collect();
        assert_eq!(
            v,
            [("gzip", 1.0), ("br", 0.5), ("text/html", 0.0), ("x", 1.0)]
        );
    }
}
