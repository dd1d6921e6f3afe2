//! The known-answer vectors of tests/vectors.json, computed once with an
//! independent implementation (Python: hmac/hashlib, pyca/cryptography,
//! PyNaCl/libsodium for the sealed box), checked against this crate.

use chrono::{TimeZone, Utc};
use hdh_pseudo::HubSecret;
use hdh_pseudo::level1::{Level1Key, Level1Pseudonym, message};
use hdh_pseudo::level2::Level2Key;
use hdh_pseudo::sealed::{self, SealedKeyPackage};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors.json")).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn chain_known_answers() {
    let v = vectors();
    let l1 = Level1Key::from_bytes(
        v["level1_key_id"].as_str().unwrap(),
        &bytes(&v["level1_key"]),
    )
    .unwrap();
    let l2 = Level2Key::from_bytes(
        v["level2_key_id"].as_str().unwrap(),
        &bytes(&v["level2_key"]),
    )
    .unwrap();
    let l2r = Level2Key::from_bytes("l2-rotated", &bytes(&v["level2_key_rotated"])).unwrap();
    let hub = HubSecret::from_bytes(&bytes(&v["hub_secret"])).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let parts: Vec<&str> = c["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            hex::encode(message(&parts)),
            c["message_hex"].as_str().unwrap()
        );
        let p1 = l1.pseudonymise(&parts);
        assert_eq!(p1.to_hex(), c["level1"].as_str().unwrap());
        let p2 = l2.encrypt(&p1);
        assert_eq!(p2.to_hex(), c["level2"].as_str().unwrap());
        assert_eq!(l2.decrypt(&p2), p1);
        assert_eq!(
            l2.rekey_hex(&l2r, &p2.to_hex()).unwrap(),
            c["level2_rotated"].as_str().unwrap()
        );
        for project in ["p-1", "p-2"] {
            let pk = hub.project_key(project);
            assert_eq!(pk.pseudonym_of(&p1), c["level3"][project].as_str().unwrap());
            // The hub's path: from the stored level 2, before and after rotation.
            assert_eq!(pk.pseudonym_of(&l2.decrypt(&p2)), pk.pseudonym_of(&p1));
        }
        assert_eq!(Level1Pseudonym::from_hex(&p1.to_hex()).unwrap(), p1);
    }
    let pp = &v["project_pseudonym"];
    assert_eq!(
        hub.project_key(pp["project"].as_str().unwrap())
            .pseudonym(pp["value"].as_str().unwrap()),
        pp["pseudonym"].as_str().unwrap()
    );
}

#[test]
fn libsodium_sealed_package_opens() {
    let v = vectors();
    let s = &v["sealed"];
    let pkg: SealedKeyPackage = serde_json::from_value(s["package"].clone()).unwrap();
    // The canonical bytes are the ones Python signed.
    assert_eq!(
        String::from_utf8(pkg.canonical_bytes().unwrap()).unwrap(),
        s["canonical"].as_str().unwrap()
    );
    let ttp = sealed::verifying_key_from_hex(s["ttp_public_key"].as_str().unwrap()).unwrap();
    let signing: [u8; 32] = bytes(&s["ttp_signing_key"]).try_into().unwrap();
    assert_eq!(
        sealed::SigningKey::from_bytes(&signing).verifying_key(),
        ttp
    );
    let secret: [u8; 32] = bytes(&s["recipient_secret"]).try_into().unwrap();
    assert_eq!(
        hex::encode(sealed::x25519_public(&secret)),
        s["recipient_public"].as_str().unwrap()
    );
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let key = sealed::open(&pkg, &secret, &ttp, now).unwrap();
    assert_eq!(key.id(), "l1-test");
    let case = &v["cases"][0];
    assert_eq!(
        key.pseudonymise(&["1850578006048", "1985-05-12", "1"])
            .to_hex(),
        case["level1"].as_str().unwrap()
    );
}

#[test]
fn normalisation_vectors() {
    use hdh_pseudo::normalise;
    let v = vectors();
    for c in v["nir"]["valid"].as_array().unwrap() {
        let n = normalise::nir(c["raw"].as_str().unwrap()).unwrap();
        assert_eq!(n.normalised, c["normalised"].as_str().unwrap());
        assert_eq!(n.provisional, c["provisional"].as_bool().unwrap());
    }
    for c in v["nir"]["invalid"].as_array().unwrap() {
        assert!(
            normalise::nir(c["raw"].as_str().unwrap()).is_err(),
            "{}",
            c["why"]
        );
    }
    for c in v["names"].as_array().unwrap() {
        assert_eq!(
            normalise::name(c["raw"].as_str().unwrap()).unwrap(),
            c["normalised"].as_str().unwrap()
        );
    }
}
