//! Statement handles and tickets: the SQL, bound to the token that created
//! it. Not secret and not signed: the caller is authenticated again on every
//! call, the statement is checked again when it runs, and a handle presented
//! under another token is refused.

use bytes::{BufMut, Bytes, BytesMut};
use tonic::Status;

use crate::Principal;

const MAGIC: &[u8; 4] = b"hdh1";

/// Encodes `MAGIC`, the token id's length (u32, big-endian), the token id,
/// then the SQL.
pub(crate) fn encode(token_id: &str, sql: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(MAGIC.len() + 4 + token_id.len() + sql.len());
    out.put_slice(MAGIC);
    // A token id is an identifier, never anywhere near 4 GiB.
    out.put_u32(u32::try_from(token_id.len()).unwrap_or(u32::MAX));
    out.put_slice(token_id.as_bytes());
    out.put_slice(sql.as_bytes());
    out.freeze()
}

fn decode(handle: &[u8]) -> Option<(&str, &str)> {
    let rest = handle.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (token_id, sql) = rest.split_at(len);
    Some((
        std::str::from_utf8(token_id).ok()?,
        std::str::from_utf8(sql).ok()?,
    ))
}

/// The SQL of a handle created under `who`'s token.
pub(crate) fn open(who: &Principal, handle: &[u8]) -> Result<String, Status> {
    let (token_id, sql) = decode(handle).ok_or_else(|| {
        Status::invalid_argument(
            "malformed statement handle or ticket: prepare the statement again",
        )
    })?;
    if token_id != who.token_id {
        return Err(Status::permission_denied(
            "this statement handle or ticket was issued to another token",
        ));
    }
    Ok(sql.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(token_id: &str) -> Principal {
        Principal {
            user_id: "u".into(),
            project_id: "p".into(),
            token_id: token_id.into(),
        }
    }

    #[test]
    fn round_trip_under_the_same_token() {
        let h = encode("tok-1", "SELECT 'é' FROM \"T\"");
        assert_eq!(open(&who("tok-1"), &h).unwrap(), "SELECT 'é' FROM \"T\"");
    }

    #[test]
    fn refused_under_another_token() {
        let h = encode("tok-1", "SELECT 1");
        let e = open(&who("tok-2"), &h).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        // A token id that is a prefix of another does not match either.
        let e = open(&who("tok-"), &h).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn malformed_handles_are_invalid() {
        for h in [
            &b""[..],
            b"hdh1",
            b"hdh1\0\0\0\x09tok",
            b"xxxx\0\0\0\0SELECT 1",
            b"hdh1\0\0\0\x01\xff",
        ] {
            let e = open(&who("tok"), h).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{h:?}");
        }
        // An empty token id is a valid encoding, bound to the empty id only.
        assert_eq!(open(&who(""), b"hdh1\0\0\0\0SELECT 1").unwrap(), "SELECT 1");
    }
}
