//! What an applicant may attach to a request: a protocol, a data management
//! plan or another document, as PDF or OpenDocument text, up to a configured
//! size. The type is decided by the bytes (their signature), never by the
//! name; a name whose extension says otherwise is refused, so that what the
//! committee downloads is what it appears to be.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Protocol,
    DataManagementPlan,
    Other,
}

impl AttachmentKind {
    pub const ALL: [AttachmentKind; 3] = [
        AttachmentKind::Protocol,
        AttachmentKind::DataManagementPlan,
        AttachmentKind::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Protocol => "protocol",
            AttachmentKind::DataManagementPlan => "data_management_plan",
            AttachmentKind::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Result<AttachmentKind, AttachmentError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| AttachmentError::UnknownKind(s.to_string()))
    }
}

/// A document type the desk accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentType {
    Pdf,
    Odt,
}

impl DocumentType {
    pub fn media_type(self) -> &'static str {
        match self {
            DocumentType::Pdf => "application/pdf",
            DocumentType::Odt => "application/vnd.oasis.opendocument.text",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            DocumentType::Pdf => "pdf",
            DocumentType::Odt => "odt",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttachmentError {
    #[error("unknown attachment kind {0:?} (expected protocol, data_management_plan, other)")]
    UnknownKind(String),
    #[error("{name}: the file is empty")]
    Empty { name: String },
    #[error("{name}: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        name: String,
        size: usize,
        limit: usize,
    },
    #[error("{name}: the content is {found}, not a PDF or OpenDocument text (.odt)")]
    NotADocument { name: String, found: String },
    #[error("{name}: the name says .{claimed} but the content is {actual}")]
    LyingExtension {
        name: String,
        claimed: String,
        actual: &'static str,
    },
    #[error("{name}: a file name needs the extension .pdf or .odt")]
    NoExtension { name: String },
}

/// Checks an attachment's name, size and content; returns its type.
pub fn check(name: &str, bytes: &[u8], limit: usize) -> Result<DocumentType, AttachmentError> {
    let name_s = name.to_string();
    if bytes.is_empty() {
        return Err(AttachmentError::Empty { name: name_s });
    }
    if bytes.len() > limit {
        return Err(AttachmentError::TooLarge {
            name: name_s,
            size: bytes.len(),
            limit,
        });
    }
    let found = infer::get(bytes);
    let actual = match found.map(|t| t.mime_type()) {
        Some("application/pdf") => DocumentType::Pdf,
        Some("application/vnd.oasis.opendocument.text") => DocumentType::Odt,
        other => {
            return Err(AttachmentError::NotADocument {
                name: name_s,
                found: match (other, found) {
                    (Some(m), Some(t)) => format!("{m} (.{})", t.extension()),
                    _ => "of an unrecognised type".to_string(),
                },
            });
        }
    };
    let Some((_, ext)) = name.rsplit_once('.') else {
        return Err(AttachmentError::NoExtension { name: name_s });
    };
    if !ext.eq_ignore_ascii_case(actual.extension()) {
        return Err(AttachmentError::LyingExtension {
            name: name_s,
            claimed: ext.to_string(),
            actual: actual.media_type(),
        });
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest well-formed PDF header a test needs.
    const PDF: &[u8] =
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

    /// An ODF package starts with an uncompressed `mimetype` entry (ODF 1.2, part 3, 3.3).
    fn odt() -> Vec<u8> {
        let mime = b"application/vnd.oasis.opendocument.text";
        let mut v = b"PK\x03\x04".to_vec();
        v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, stored, time, date
        v.extend_from_slice(&[0, 0, 0, 0]); // crc (not checked by the signature)
        v.extend_from_slice(&(mime.len() as u32).to_le_bytes());
        v.extend_from_slice(&(mime.len() as u32).to_le_bytes());
        v.extend_from_slice(&8u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(b"mimetype");
        v.extend_from_slice(mime);
        v
    }

    #[test]
    fn pdf_and_odt_pass_by_content() {
        assert_eq!(check("protocol.pdf", PDF, 1 << 20), Ok(DocumentType::Pdf));
        assert_eq!(check("Protocol.PDF", PDF, 1 << 20), Ok(DocumentType::Pdf));
        assert_eq!(check("dmp.odt", &odt(), 1 << 20), Ok(DocumentType::Odt));
    }

    #[test]
    fn a_lying_extension_is_refused() {
        // An ODT named .pdf, and a PDF named .odt.
        assert!(matches!(
            check("protocol.pdf", &odt(), 1 << 20),
            Err(AttachmentError::LyingExtension { .. })
        ));
        assert!(matches!(
            check("dmp.odt", PDF, 1 << 20),
            Err(AttachmentError::LyingExtension { .. })
        ));
        // An executable or an image named .pdf.
        let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00";
        let e = check("protocol.pdf", exe, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("protocol.pdf"), "{e}");
        assert!(matches!(e, AttachmentError::NotADocument { .. }));
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
        assert!(matches!(
            check("protocol.pdf", png, 1 << 20),
            Err(AttachmentError::NotADocument { .. })
        ));
        assert!(matches!(
            check("protocol.pdf", b"just text, no document", 1 << 20),
            Err(AttachmentError::NotADocument { .. })
        ));
        // A zip that is not an OpenDocument text (e.g. a .docx or any archive).
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00";
        assert!(check("dmp.odt", zip, 1 << 20).is_err());
    }

    #[test]
    fn size_and_name_are_checked() {
        assert!(matches!(
            check("protocol.pdf", PDF, 10),
            Err(AttachmentError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            check("protocol.pdf", b"", 10),
            Err(AttachmentError::Empty { .. })
        ));
        assert!(matches!(
            check("protocol", PDF, 1 << 20),
            Err(AttachmentError::NoExtension { .. })
        ));
        assert_eq!(
            AttachmentKind::parse("protocol"),
            Ok(AttachmentKind::Protocol)
        );
        assert!(AttachmentKind::parse("cv").is_err());
    }
}
