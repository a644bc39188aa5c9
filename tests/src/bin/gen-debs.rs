//! Writes N small but realistic `.deb` files (control stanzas of about 1 KB)
//! for the apt publishing benchmark: `gen-debs DIR N [PREFIX]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: gen-debs DIR N [PREFIX]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let prefix = args.next().unwrap_or_else(|| "bench".into());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create DIR");
    for i in 0..n {
        let name = format!("{prefix}-pkg{i}");
        let extra = format!(
            "Depends: libc6 (>= 2.34), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0), {prefix}-pkg{}\nHomepage: https://example.invalid/{name}\n",
            i / 2
        );
        let deb = artifactd_tests::apt::make_deb(&name, &format!("1.{i}-1"), "amd64", &extra);
        std::fs::write(dir.join(format!("{name}_1.{i}-1_amd64.deb")), deb).expect("write deb");
    }
}
