"""What a producer writes today with pandas + pyarrow + hmac: the same
normalisation, level-1 HMAC and coarsening as `hdh-producer prepare`, as
vectorised as pandas allows (the HMAC is per row, there is no vector form:
the one-shot C `hmac.digest` over plain Python lists).

usage: pandas_peer.py IN.csv LEVEL1.key OUT.parquet
"""
import hashlib
import hmac
import sys

import numpy as np
import pandas as pd

csv, key_file, out = sys.argv[1:4]
with open(key_file) as f:
    key = bytes.fromhex(next(l.split(":", 1)[1].strip() for l in f if l.startswith("key:")))

df = pd.read_csv(csv, sep=";", dtype=str, keep_default_na=False)


def fail(mask, field, reason):
    if mask.any():
        line = int(np.argmax(mask.to_numpy())) + 2
        sys.exit(f"{csv}:{line}: {field}: {reason}")


# NIR: cleaned, upper case, 13 characters + key checked, 2A/2B kept.
nir = df["BEN_NIR_IDT"].str.replace(r"[\s.\-]", "", regex=True).str.upper()
fail(nir.str.len() != 15, "BEN_NIR_IDT", "13 digits + 2-digit key expected")
body = nir.str[:13]
numeric = body.str[:5] + body.str[5:7].replace({"2A": "19", "2B": "18"}) + body.str[7:]
shape = numeric.str.fullmatch(r"\d{13}") & nir.str[13:].str.fullmatch(r"\d{2}")
fail(~shape, "BEN_NIR_IDT", "a character is not allowed")
fail(~nir.str[0].isin(list("123478")), "BEN_NIR_IDT", "bad first digit")
month = nir.str[3:5].astype(int)
fail(~(month.between(1, 12) | month.between(20, 42) | month.between(50, 99)), "BEN_NIR_IDT", "bad month")
fail(97 - numeric.astype(np.int64) % 97 != nir.str[13:].astype(np.int64), "BEN_NIR_IDT", "the NIR key does not match")
provisional = nir.str[0].isin(["7", "8"])

birth = pd.to_datetime(df["BEN_NAI_DTE"], format="%d%m%Y")
birth_iso = birth.dt.strftime("%Y-%m-%d")
sex = df["BEN_SEX_COD"].str.strip().str.upper().map({"1": "1", "M": "1", "H": "1", "2": "2", "F": "2"})
fail(sex.isna(), "BEN_SEX_COD", "bad sex")

# Level 1: HMAC-SHA-256("hdh-l1-v1" || len(part) || part ...)[:16], hex, with
# the one-shot C implementation (hmac.digest); Python lists, not pandas
# element iteration.
digest = hmac.digest


def pseudonym(a, b, c):
    a, b, c = a.encode(), b.encode(), c.encode()
    message = b"hdh-l1-v1" + len(a).to_bytes(4, "big") + a + len(b).to_bytes(4, "big") + b + len(c).to_bytes(4, "big") + c
    return digest(key, message, "sha256")[:16].hex()


pseudonyms = [pseudonym(a, b, c) for a, b, c in zip(body.tolist(), birth_iso.tolist(), sex.tolist())]

commune = df["BEN_RES_COM"].str.strip().str.upper()
fail(~commune.str.fullmatch(r"\d{5}|2[AB]\d{3}"), "BEN_RES_COM", "bad commune code")
department = commune.str[:2].where(~commune.str[:2].isin(["97", "98"]), commune.str[:3])

table = pd.DataFrame({
    "BEN_NIR_IDT": pseudonyms,
    "BEN_NIR_PROV": provisional,
    "BEN_NAI_DTE": birth.dt.strftime("%Y-%m"),
    "BEN_SEX_COD": df["BEN_SEX_COD"].astype(np.int64),
    "BEN_RES_COM": department,
    "EXE_SOI_DTD": pd.to_datetime(df["EXE_SOI_DTD"], format="%d%m%Y"),
    "PRS_NAT_REF": pd.to_numeric(df["PRS_NAT_REF"]).astype("Int64"),
    "PRS_PAI_MNT": pd.to_numeric(df["PRS_PAI_MNT"]),
})
table.to_parquet(out, compression="snappy", index=False)
