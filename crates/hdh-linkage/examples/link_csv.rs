//! A quick probabilistic linkage of CSV files (a development tool; the
//! product's command is `hdh linkage probabilistic`).
//!
//! ```text
//! link_csv SETTINGS.toml ID LEFT.csv [RIGHT.csv]
//! ```
//! Prints `left_id,right_id,probability` of the links, then timings on stderr.

use hdh_linkage::model::Linker;
use hdh_linkage::{LinkType, Records, Settings};

fn read(path: &str, id: &str) -> Result<Records, Box<dyn std::error::Error>> {
    let mut rdr = csv::Reader::from_path(path)?;
    let headers: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let id_col = headers.iter().position(|h| h == id).ok_or("no id column")?;
    let mut ids = Vec::new();
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for row in rdr.records() {
        let row = row?;
        for (c, v) in row.iter().enumerate() {
            cols[c].push((!v.trim().is_empty()).then(|| v.trim().to_string()));
        }
        ids.push(row.get(id_col).unwrap_or_default().to_string());
    }
    let mut r = Records::new(ids);
    for (h, v) in headers.iter().zip(cols) {
        r = r.with_column(h, v)?;
    }
    Ok(r)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let s = Settings::from_toml(&std::fs::read_to_string(&args[1])?)?;
    let t = std::time::Instant::now();
    let left = read(&args[3], &args[2])?;
    let right = match s.link_type {
        LinkType::LinkOnly => read(&args[4], &args[2])?,
        LinkType::DedupeOnly => left.clone(),
    };
    let read_s = t.elapsed().as_secs_f64();
    let linker = Linker::new(&s, &left, &right)?;
    let model = linker.train()?;
    let train_s = t.elapsed().as_secs_f64();
    let pairs = linker.blocked_pairs()?;
    let scored = linker.score(&model, &pairs);
    let total_s = t.elapsed().as_secs_f64();
    println!("left_id,right_id,probability");
    for x in scored.iter().filter(|x| x.probability >= s.threshold) {
        println!(
            "{},{},{:.6}",
            left.ids[x.pair.0 as usize], right.ids[x.pair.1 as usize], x.probability
        );
    }
    eprintln!(
        "read {read_s:.2} s, trained {:.2} s, {} pairs scored {:.2} s; total {total_s:.2} s; λ {:.3e}",
        train_s - read_s,
        pairs.len(),
        total_s - train_s,
        model.lambda
    );
    for c in &model.comparisons {
        eprintln!(
            "  {} m {:?} u {:?}",
            c.name,
            c.m.iter()
                .map(|v| (v * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            c.u.iter()
                .map(|v| (v * 10000.0).round() / 10000.0)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
