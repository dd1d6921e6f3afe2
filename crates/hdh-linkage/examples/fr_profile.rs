//! Development only: the phases of a probabilistic deduplication, timed.
//! fr_profile SETTINGS.toml DATA.csv IR_GEO_V.csv
use hdh_linkage::model::Linker;
use hdh_linkage::{Records, Settings};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let t = Instant::now();
    let s = Settings::from_toml(&std::fs::read_to_string(&a[1]).unwrap()).unwrap();
    let text = std::fs::read_to_string(&a[2]).unwrap();
    let mut lines = text.lines();
    let headers: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for l in lines {
        for (c, v) in l.split(',').enumerate() {
            cols[c].push((!v.is_empty()).then(|| v.to_string()));
        }
    }
    let geo = std::fs::read_to_string(&a[3]).unwrap();
    let basin: HashMap<String, String> = geo
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            (format!("{}{}", f[0], f[1]), f[3].to_string())
        })
        .collect();
    let ci = headers.iter().position(|h| *h == "commune").unwrap();
    let b: Vec<Option<String>> = cols[ci]
        .iter()
        .map(|c| c.as_ref().and_then(|c| basin.get(c).cloned()))
        .collect();
    let ids: Vec<String> = cols[0].iter().map(|v| v.clone().unwrap()).collect();
    let mut r = Records::new(ids);
    for (h, v) in headers.iter().zip(cols) {
        r = r.with_column(h, v).unwrap();
    }
    r = r.with_column("commune_basin", b).unwrap();
    eprintln!("read {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let linker = Linker::new(&s, &r, &r).unwrap();
    eprintln!("linker {:.2}", t.elapsed().as_secs_f64());
    if std::env::var("PHASES").is_ok() {
        let t = Instant::now();
        let u = linker.estimate_u().unwrap();
        eprintln!("u {:.2}", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let _m = linker.estimate_m(&u).unwrap();
        eprintln!("m {:.2}", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let lambda = linker.estimate_lambda().unwrap();
        eprintln!("lambda {:.2} {lambda:?}", t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let model = linker.train().unwrap();
    eprintln!("train {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let pairs = linker.blocked_pairs().unwrap();
    eprintln!("blocking {:.2} {}", t.elapsed().as_secs_f64(), pairs.len());
    let t = Instant::now();
    let scored = linker.score(&model, &pairs);
    eprintln!("score {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let links: Vec<_> = scored
        .iter()
        .filter(|x| x.probability >= s.threshold)
        .map(|x| x.pair)
        .collect();
    let c = hdh_linkage::cluster::clusters(r.len(), r.len(), &links, s.link_type);
    eprintln!(
        "cluster {:.2} links {} clusters {}",
        t.elapsed().as_secs_f64(),
        links.len(),
        c.iter().max().unwrap() + 1
    );
}
