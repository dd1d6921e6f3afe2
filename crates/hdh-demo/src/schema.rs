//! Table Schemas of the generated tables (Frictionless Table Schema with the hdh
//! extensions `hdh:identifier`, `hdh:periodField`, `nomenclature` and `unit`).
//!
//! Field names, upstream types and French descriptions come from
//! `indsante/schema-snds` (`schemas/BENEFICIAIRE`, `schemas/DCIR`,
//! `schemas/PMSI/PMSI MCO`), except `IR_PHA_R`, whose upstream schema has no descriptions.

use serde_json::{Map, Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ty {
    Str,
    Int,
    Num,
    Date,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "integer",
            Ty::Num => "number",
            Ty::Date => "date",
        }
    }
}

/// One constraint of a field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum C {
    Required,
    Len(u32, u32),
    EnumInt(&'static [i64]),
    EnumStr(&'static [&'static str]),
    Min(i64),
    Max(i64),
    Pattern(&'static str),
}

pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub description: &'static str,
    pub constraints: &'static [C],
    pub nomenclature: Option<&'static str>,
    pub person: bool,
    pub unit: Option<&'static str>,
}

pub(crate) const fn f(
    name: &'static str,
    ty: Ty,
    description: &'static str,
    constraints: &'static [C],
) -> Field {
    Field {
        name,
        ty,
        description,
        constraints,
        nomenclature: None,
        person: false,
        unit: None,
    }
}

pub(crate) const fn nom(mut fd: Field, nomenclature: &'static str) -> Field {
    fd.nomenclature = Some(nomenclature);
    fd
}

pub(crate) const fn person(mut fd: Field) -> Field {
    fd.person = true;
    fd
}

const fn eur(mut fd: Field) -> Field {
    fd.unit = Some("EUR");
    fd
}

pub(crate) struct ForeignKey {
    pub fields: &'static [&'static str],
    pub resource: &'static str,
    pub reference: &'static [&'static str],
}

pub(crate) struct Table {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
    pub primary_key: &'static [&'static str],
    pub foreign_keys: &'static [ForeignKey],
    pub period_field: Option<&'static str>,
}

impl Table {
    pub(crate) fn header(&self) -> Vec<u8> {
        let mut h = Vec::new();
        for (i, fd) in self.fields.iter().enumerate() {
            if i > 0 {
                h.push(b',');
            }
            h.extend_from_slice(fd.name.as_bytes());
        }
        h.push(b'\n');
        h
    }

    pub(crate) fn to_json(&self) -> Value {
        let fields: Vec<Value> = self.fields.iter().map(field_json).collect();
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("title".into(), json!(self.title));
        m.insert("description".into(), json!(self.description));
        m.insert("fields".into(), Value::Array(fields));
        if !self.primary_key.is_empty() {
            m.insert("primaryKey".into(), json!(self.primary_key));
        }
        if !self.foreign_keys.is_empty() {
            let fks: Vec<Value> = self
                .foreign_keys
                .iter()
                .map(|fk| {
                    json!({
                        "fields": fk.fields,
                        "reference": {"resource": fk.resource, "fields": fk.reference}
                    })
                })
                .collect();
            m.insert("foreignKeys".into(), Value::Array(fks));
        }
        m.insert("missingValues".into(), json!([""]));
        if let Some(p) = self.period_field {
            m.insert("hdh:periodField".into(), json!(p));
        }
        Value::Object(m)
    }
}

fn field_json(fd: &Field) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(fd.name));
    m.insert("type".into(), json!(fd.ty.name()));
    m.insert("description".into(), json!(fd.description));
    if let Some(n) = fd.nomenclature {
        m.insert("nomenclature".into(), json!(n));
    }
    if let Some(u) = fd.unit {
        m.insert("unit".into(), json!(u));
    }
    if !fd.constraints.is_empty() {
        let mut c = Map::new();
        for k in fd.constraints {
            match *k {
                C::Required => {
                    c.insert("required".into(), json!(true));
                }
                C::Len(min, max) => {
                    c.insert("minLength".into(), json!(min));
                    c.insert("maxLength".into(), json!(max));
                }
                C::EnumInt(v) => {
                    c.insert("enum".into(), json!(v));
                }
                C::EnumStr(v) => {
                    c.insert("enum".into(), json!(v));
                }
                C::Min(v) => {
                    c.insert("minimum".into(), json!(v));
                }
                C::Max(v) => {
                    c.insert("maximum".into(), json!(v));
                }
                C::Pattern(p) => {
                    c.insert("pattern".into(), json!(p));
                }
            }
        }
        m.insert("constraints".into(), Value::Object(c));
    }
    if fd.person {
        m.insert("hdh:identifier".into(), json!("person"));
    }
    Value::Object(m)
}

use C::*;
use Ty::*;

const REQ: &[C] = &[Required];

// ---- shared field definitions -------------------------------------------------------

const NIR_DESC: &str = "Identifiant anonyme du patient dans le SNIIRAM";
const RNG_DESC: &str = "rang de naissance du bénéficiaire";
const SEX_DESC: &str = "Code sexe du bénéficiaire";
const DPT_DESC: &str = "Département de résidence du bénéficiaire";

const DCT_ORD_NUM: Field = f(
    "DCT_ORD_NUM",
    Int,
    "numéro d'ordre du décompte dans l'organisme",
    &[Required, Min(0), Max(999_999_999)],
);
const FLX_DIS_DTD: Field = f(
    "FLX_DIS_DTD",
    Date,
    "Date de mise à disposition des données",
    REQ,
);
const FLX_EMT_NUM: Field = f(
    "FLX_EMT_NUM",
    Int,
    "numéro d'émetteur du flux",
    &[Required, Min(1), Max(99)],
);
const FLX_EMT_ORD: Field = f(
    "FLX_EMT_ORD",
    Int,
    "numéro de séquence du flux",
    &[Required, Min(0), Max(9999)],
);
const FLX_EMT_TYP: Field = f(
    "FLX_EMT_TYP",
    Int,
    "Type d'émetteur",
    &[Required, EnumInt(&[1, 2, 3])],
);
const FLX_TRT_DTD: Field = f(
    "FLX_TRT_DTD",
    Date,
    "Date d'entrée des données dans le système d'information",
    REQ,
);
const ORG_CLE_NUM: Field = f(
    "ORG_CLE_NUM",
    Str,
    "organisme de liquidation des prestations (avant fusion des caisses)",
    &[Required, Len(9, 9)],
);
const PRS_ORD_NUM: Field = f(
    "PRS_ORD_NUM",
    Int,
    "Numéro d'ordre de la prestation dans le décompte",
    &[Required, Min(1), Max(100)],
);
const REM_TYP_AFF: Field = f(
    "REM_TYP_AFF",
    Int,
    "type de remboursement affiné",
    &[Required, Min(1), Max(10)],
);

pub(crate) const NINE_KEYS: &[&str] = &[
    "DCT_ORD_NUM",
    "FLX_DIS_DTD",
    "FLX_EMT_NUM",
    "FLX_EMT_ORD",
    "FLX_EMT_TYP",
    "FLX_TRT_DTD",
    "ORG_CLE_NUM",
    "PRS_ORD_NUM",
    "REM_TYP_AFF",
];

const ETA_NUM: Field = f(
    "ETA_NUM",
    Str,
    "Numéro FINESS e-PMSI",
    &[Required, Len(9, 9)],
);
const RSA_NUM: Field = f(
    "RSA_NUM",
    Str,
    "N° d'index du RSA",
    &[Required, Len(10, 10)],
);
const STAY_FK: ForeignKey = ForeignKey {
    fields: &["ETA_NUM", "RSA_NUM"],
    resource: "T_MCO23B",
    reference: &["ETA_NUM", "RSA_NUM"],
};

// ---- tables -------------------------------------------------------------------------

pub(crate) const IR_BEN_R: Table = Table {
    name: "IR_BEN_R",
    title: "Référentiel des bénéficiaires du SNIIRAM-SNDS",
    description: "Référentiel des bénéficiaires : une ligne par bénéficiaire (identifiant \
        pseudonymisé, rang gémellaire, sexe, naissance, résidence, décès). Données \
        synthétiques de démonstration.",
    fields: &[
        person(f("BEN_NIR_PSA", Str, NIR_DESC, &[Required, Len(32, 32)])),
        f(
            "BEN_RNG_GEM",
            Int,
            RNG_DESC,
            &[Required, EnumInt(&[1, 2, 3])],
        ),
        nom(
            f("BEN_SEX_COD", Int, SEX_DESC, &[Required, EnumInt(&[1, 2])]),
            "IR_SEX_V",
        ),
        f(
            "BEN_NAI_ANN",
            Str,
            "Année de naissance du bénéficiaire",
            &[Required, Len(4, 4), Pattern("^[0-9]{4}$")],
        ),
        f(
            "BEN_NAI_MOI",
            Str,
            "Mois de naissance du bénéficiaire",
            &[Required, Len(2, 2), Pattern("^(0[1-9]|1[0-2])$")],
        ),
        nom(
            f("BEN_RES_DPT", Str, DPT_DESC, &[Required, Len(3, 3)]),
            "IR_DPT_V",
        ),
        f(
            "BEN_RES_COM",
            Str,
            "commune de résidence du destinataire du règlement",
            &[Required, Len(3, 3)],
        ),
        f("BEN_DCD_DTE", Date, "Date de décès du bénéficiaire", &[]),
    ],
    primary_key: &["BEN_NIR_PSA", "BEN_RNG_GEM"],
    foreign_keys: &[],
    period_field: None,
};

pub(crate) const ER_PRS_F: Table = Table {
    name: "ER_PRS_F",
    title: "Table des prestations",
    description: "DCIR, table centrale des prestations : une ligne par prestation \
        remboursée (consultations, pharmacie, biologie, soins infirmiers, kinésithérapie). \
        Les tables affinées (ER_PHA_F) s'y joignent sur les neuf clés de jointure du DCIR. \
        Données synthétiques de démonstration, soins de 2021 à 2023.",
    fields: &[
        DCT_ORD_NUM,
        FLX_DIS_DTD,
        FLX_EMT_NUM,
        FLX_EMT_ORD,
        FLX_EMT_TYP,
        FLX_TRT_DTD,
        ORG_CLE_NUM,
        PRS_ORD_NUM,
        REM_TYP_AFF,
        person(f("BEN_NIR_PSA", Str, NIR_DESC, &[Required, Len(32, 32)])),
        f(
            "BEN_RNG_GEM",
            Int,
            RNG_DESC,
            &[Required, EnumInt(&[1, 2, 3])],
        ),
        f(
            "BEN_AMA_COD",
            Int,
            "Age du bénéficiaire en années à la date des soins (démo : toujours en années, \
             sans le codage 1000 + mois des moins de 2 ans de IR_AMA_V)",
            &[Required, Min(0), Max(120)],
        ),
        nom(
            f("BEN_SEX_COD", Int, SEX_DESC, &[Required, EnumInt(&[1, 2])]),
            "IR_SEX_V",
        ),
        nom(
            f("BEN_RES_DPT", Str, DPT_DESC, &[Required, Len(3, 3)]),
            "IR_DPT_V",
        ),
        f(
            "EXE_SOI_DTD",
            Date,
            "Date de début d'exécution des soins",
            REQ,
        ),
        f(
            "EXE_SOI_DTF",
            Date,
            "Date de fin d'exécution des soins",
            REQ,
        ),
        nom(
            f(
                "PRS_NAT_REF",
                Int,
                "Code de la Prestations de référence",
                REQ,
            ),
            "IR_NAT_V",
        ),
        f(
            "PRS_ACT_QTE",
            Num,
            "Quantité de l'acte de base",
            &[Required, Min(0), Max(1000)],
        ),
        eur(f(
            "PRS_PAI_MNT",
            Num,
            "Montant global de la dépense",
            &[Required, Min(0)],
        )),
        eur(f(
            "BSE_REM_MNT",
            Num,
            "Montant remboursé pour l'acte de base",
            &[Required, Min(0)],
        )),
        nom(
            f(
                "PSE_SPE_COD",
                Int,
                "Spécialite médicale du professionnel de santé exécutant",
                REQ,
            ),
            "IR_SPE_V",
        ),
        nom(
            f(
                "PSP_SPE_COD",
                Int,
                "Spécialité médicale du professionnel de santé prescripteur",
                &[],
            ),
            "IR_SPE_V",
        ),
    ],
    primary_key: NINE_KEYS,
    foreign_keys: &[ForeignKey {
        fields: &["BEN_NIR_PSA", "BEN_RNG_GEM"],
        resource: "IR_BEN_R",
        reference: &["BEN_NIR_PSA", "BEN_RNG_GEM"],
    }],
    period_field: Some("EXE_SOI_DTD"),
};

pub(crate) const ER_PHA_F: Table = Table {
    name: "ER_PHA_F",
    title: "Table des données de codage de pharmacie",
    description: "DCIR, détail des délivrances de médicaments en pharmacie de ville : code \
        CIP-13 et nombre de boîtes. Se joint à ER_PRS_F sur les neuf clés de jointure du \
        DCIR. Données synthétiques de démonstration.",
    fields: &[
        DCT_ORD_NUM,
        FLX_DIS_DTD,
        FLX_EMT_NUM,
        FLX_EMT_ORD,
        FLX_EMT_TYP,
        FLX_TRT_DTD,
        ORG_CLE_NUM,
        PRS_ORD_NUM,
        REM_TYP_AFF,
        f(
            "PHA_PRS_C13",
            Int,
            "Code CIP de la pharmacie de ville (13 Caractères)",
            &[Required, Min(3_400_900_000_000), Max(3_400_999_999_999)],
        ),
        f(
            "PHA_ACT_QSN",
            Int,
            "Quantité affinée signée (= nombre de boites facturées)",
            &[Required, Min(-10), Max(30)],
        ),
    ],
    primary_key: &[
        "DCT_ORD_NUM",
        "FLX_DIS_DTD",
        "FLX_EMT_NUM",
        "FLX_EMT_ORD",
        "FLX_EMT_TYP",
        "FLX_TRT_DTD",
        "ORG_CLE_NUM",
        "PRS_ORD_NUM",
        "REM_TYP_AFF",
        "PHA_PRS_C13",
    ],
    foreign_keys: &[
        ForeignKey {
            fields: NINE_KEYS,
            resource: "ER_PRS_F",
            reference: NINE_KEYS,
        },
        ForeignKey {
            fields: &["PHA_PRS_C13"],
            resource: "IR_PHA_R",
            reference: &["PHA_CIP_C13"],
        },
    ],
    period_field: Some("FLX_DIS_DTD"),
};

pub(crate) const IR_PHA_R: Table = Table {
    name: "IR_PHA_R",
    title: "Référentiel des médicaments (correspondance CIP13, ATC et libellés)",
    description: "Référentiel des présentations de médicaments : code CIP-13, classe ATC de \
        niveau 5 et son libellé (classes ATC réelles, tables OPENMEDIC) ; les codes CIP-13 et \
        les noms de produits sont synthétiques.",
    fields: &[
        f(
            "PHA_CIP_C13",
            Int,
            "Code CIP de la présentation (13 chiffres, 34009…)",
            &[Required, Min(3_400_900_000_000), Max(3_400_999_999_999)],
        ),
        nom(
            f(
                "PHA_ATC_C07",
                Str,
                "Code ATC de niveau 5 (substance active, 7 caractères)",
                &[Required, Len(7, 7)],
            ),
            "openmedic_ATC5",
        ),
        f(
            "PHA_ATC_L07",
            Str,
            "Libellé de la classe ATC de niveau 5",
            REQ,
        ),
        f(
            "PHA_NOM_PA",
            Str,
            "Nom de la présentation (synthétique : substance, laboratoire, dosage, forme, \
             conditionnement)",
            REQ,
        ),
    ],
    primary_key: &["PHA_CIP_C13"],
    foreign_keys: &[],
    period_field: None,
};

pub(crate) const T_MCO23B: Table = Table {
    name: "T_MCO23B",
    title: "Description du Séjour",
    description: "PMSI MCO 2023, description du séjour (RSA) : diagnostics principal et \
        relié, GHM, durée, modes d'entrée et de sortie (9 = décès), âge, sexe, \
        département de résidence. Données synthétiques de démonstration.",
    fields: &[
        ETA_NUM,
        RSA_NUM,
        nom(
            f(
                "DGN_PAL",
                Str,
                "Diagnostic principal (DP)",
                &[Required, Len(3, 6)],
            ),
            "MS_CIM_V",
        ),
        nom(
            f("DGN_REL", Str, "Diagnostic relié (DR)", &[Len(3, 6)]),
            "MS_CIM_V",
        ),
        f(
            "GRG_GHM",
            Str,
            "GHM calculé par le GENRSA",
            &[Required, Len(6, 6)],
        ),
        f(
            "SEJ_NBJ",
            Int,
            "Durée totale du séjour dans le champ du PMSI (vide si séances)",
            &[Min(0), Max(2999)],
        ),
        f(
            "ENT_MOD",
            Str,
            "Mode d'entrée dans le champ du PMSI-MCO",
            &[Required, EnumStr(&["6", "7", "8"])],
        ),
        f(
            "SOR_MOD",
            Str,
            "Mode de sortie du champ PMSI-MCO",
            &[Required, EnumStr(&["6", "7", "8", "9"])],
        ),
        f(
            "AGE_ANN",
            Int,
            "Age en années",
            &[Required, Min(0), Max(120)],
        ),
        f("COD_SEX", Str, "Sexe", &[Required, EnumStr(&["1", "2"])]),
        f(
            "BDI_DEP",
            Str,
            "Code département de résidence",
            &[Required, Len(2, 2)],
        ),
        f(
            "SOR_MOI",
            Str,
            "Mois de sortie",
            &[Required, Len(2, 2), Pattern("^(0[1-9]|1[0-2])$")],
        ),
        f(
            "SOR_ANN",
            Str,
            "Année de sortie",
            &[Required, Len(4, 4), Pattern("^[0-9]{4}$")],
        ),
    ],
    primary_key: &["ETA_NUM", "RSA_NUM"],
    foreign_keys: &[],
    period_field: None,
};

pub(crate) const T_MCO23C: Table = Table {
    name: "T_MCO23C",
    title: "NIR patient et Dates de soin",
    description: "PMSI MCO 2023, identifiant du patient (NIR_ANO_17, chaînable avec \
        BEN_NIR_PSA du DCIR) et dates du séjour. NIR_RET différent de 0 : clé de chaînage \
        non fiable, séjour à exclure des analyses chaînées. Données synthétiques de \
        démonstration.",
    fields: &[
        ETA_NUM,
        f(
            "RSA_NUM",
            Str,
            "N° séquentiel dans fichier PMSI",
            &[Required, Len(10, 10)],
        ),
        person(f("NIR_ANO_17", Str, "N° anonyme", &[Required, Len(32, 32)])),
        f("EXE_SOI_DTD", Date, "Date d'entrée (date)", REQ),
        f("EXE_SOI_DTF", Date, "Date de sortie (date)", REQ),
        f(
            "NIR_RET",
            Str,
            "Code retour contrôle « n° sécurité sociale »",
            &[Required, EnumStr(&["0", "1"])],
        ),
    ],
    primary_key: &["ETA_NUM", "RSA_NUM"],
    foreign_keys: &[
        STAY_FK,
        ForeignKey {
            fields: &["NIR_ANO_17"],
            resource: "IR_BEN_R",
            reference: &["BEN_NIR_PSA"],
        },
    ],
    period_field: Some("EXE_SOI_DTD"),
};

pub(crate) const T_MCO23D: Table = Table {
    name: "T_MCO23D",
    title: "Diagnostic associé",
    description: "PMSI MCO 2023, diagnostics associés significatifs (DAS) : zéro, une ou \
        plusieurs lignes par séjour. Données synthétiques de démonstration.",
    fields: &[
        ETA_NUM,
        RSA_NUM,
        nom(
            f("ASS_DGN", Str, "Diagnostic associé", &[Required, Len(3, 6)]),
            "MS_CIM_V",
        ),
    ],
    primary_key: &[],
    foreign_keys: &[STAY_FK],
    period_field: None,
};

pub(crate) const T_MCO23A: Table = Table {
    name: "T_MCO23A",
    title: "Acte CCAM",
    description: "PMSI MCO 2023, actes CCAM réalisés au cours des séjours, avec leur délai \
        depuis l'entrée. Données synthétiques de démonstration.",
    fields: &[
        ETA_NUM,
        RSA_NUM,
        nom(
            f(
                "CDC_ACT",
                Str,
                "Code CCAM (hors extension PMSI)",
                &[Required, Len(7, 7)],
            ),
            "IR_CCAM_V63",
        ),
        f(
            "ENT_DAT_DEL",
            Int,
            "Délai depuis la date d'entrée",
            &[Required, Min(0)],
        ),
    ],
    primary_key: &[],
    foreign_keys: &[STAY_FK],
    period_field: None,
};

/// All tables, in output order.
pub(crate) const TABLES: [&Table; 8] = [
    &IR_BEN_R, &ER_PRS_F, &ER_PHA_F, &IR_PHA_R, &T_MCO23B, &T_MCO23C, &T_MCO23D, &T_MCO23A,
];

/// Indices into [`TABLES`].
pub(crate) const BEN: usize = 0;
pub(crate) const PRS: usize = 1;
pub(crate) const PHA: usize = 2;
pub(crate) const PHAR: usize = 3;
pub(crate) const MCOB: usize = 4;
pub(crate) const MCOC: usize = 5;
pub(crate) const MCOD: usize = 6;
pub(crate) const MCOA: usize = 7;
