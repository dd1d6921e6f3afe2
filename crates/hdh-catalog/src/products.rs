//! Catalogue descriptions of known product families (configuration shipped as
//! data: `data/snds-products.json`), used when an imported package's tables
//! declare their product (SNDS `produit`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::metadata::{Agent, DatasetMetadata, Localized};
use crate::package::product_dataset_id;

const SNDS: &str = include_str!("../data/snds-products.json");

/// Known products and the dataset identifier prefix of their package.
pub struct Products {
    pub prefix: String,
    pub products: BTreeMap<String, DatasetMetadata>,
}

impl Products {
    /// The SNDS products (DCIR, PMSI MCO, …).
    pub fn snds() -> Products {
        // The file is part of the crate and checked by a test.
        let v: Value = serde_json::from_str(SNDS).unwrap_or(Value::Null);
        let prefix = v
            .get("prefix")
            .and_then(|p| p.as_str())
            .unwrap_or("snds")
            .to_string();
        let products = v
            .get("products")
            .and_then(|p| p.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        DatasetMetadata::from_json_value(v)
                            .ok()
                            .map(|m| (k.clone(), m))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Products { prefix, products }
    }

    /// The dataset a product's tables go to: its identifier and description
    /// (a minimal one for an unknown product).
    pub fn dataset_for(&self, product: &str, package_name: &str) -> (String, DatasetMetadata) {
        match self.products.get(product) {
            Some(m) => (product_dataset_id(&self.prefix, product), m.clone()),
            None => {
                let id = product_dataset_id(&product_dataset_id("", package_name), product);
                let mut m = DatasetMetadata::untitled(&id, "");
                m.title = Localized::same(format!("{package_name} — {product}"));
                m.publisher = Agent::default();
                m.producer = None;
                m.product = Some(product.to_string());
                (id, m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snds_product_parses() {
        let raw: Value = serde_json::from_str(SNDS).unwrap();
        let n = raw["products"].as_object().unwrap().len();
        let p = Products::snds();
        assert_eq!(p.products.len(), n, "a product description does not parse");
        assert_eq!(n, 12);
        let (id, m) = p.dataset_for("PMSI MCO", "schema-snds");
        assert_eq!(id, "snds-pmsi-mco");
        assert!(m.coding_systems.contains(&"ICD-10".to_string()));
        let (id, m) = p.dataset_for("OTHER", "my pkg");
        assert_eq!(id, "my-pkg-other");
        assert_eq!(m.product.as_deref(), Some("OTHER"));
    }
}
