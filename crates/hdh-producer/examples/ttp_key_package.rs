//! Benchmark and demo helper: a trusted third party's key store in `DIR`
//! (created if empty), a sealed level-1 key package for a producer, and the
//! raw level-1 key file for a peer script that computes the same HMAC.
//!
//! `cargo run -p hdh-producer --example ttp_key_package -- DIR PRODUCER X25519_PUBLIC_HEX`
//! writes `DIR/key-package.json`, `DIR/level1.key` and prints the TTP's
//! Ed25519 public key.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, producer, recipient] = args.as_slice() else {
        eprintln!("usage: ttp_key_package DIR PRODUCER X25519_PUBLIC_HEX");
        return ExitCode::FAILURE;
    };
    let dir = PathBuf::from(dir);
    let run = || -> Result<String, Box<dyn std::error::Error>> {
        let store = dir.join("store");
        if !store.join("level1.key").exists() && !store.exists() {
            hdh_ttp::init(&store)?;
        }
        let _ = hdh_ttp::add_producer(&store, producer);
        let pkg = hdh_ttp::issue_key_package(&store, producer, recipient, 30)?;
        std::fs::write(
            dir.join("key-package.json"),
            serde_json::to_vec_pretty(&pkg)?,
        )?;
        let key = hdh_ttp::store::load_level1_key(&store)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        std::io::Write::write_all(
            &mut opts.open(dir.join("level1.key"))?,
            key.to_key_file().as_bytes(),
        )?;
        Ok(hdh_ttp::public_key_hex(&store)?)
    };
    match run() {
        Ok(public) => {
            println!("{public}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
