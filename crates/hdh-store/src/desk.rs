//! The single desk's records beyond the request itself: attachments,
//! committee reviewers and their declarations of interests, comments,
//! producers' agreements, notifications (the in-app inbox) and the e-mail
//! address of each account.

use crate::{Result, Store, Tx, now, opt_str};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub id: String,
    pub request_id: String,
    /// `protocol`, `data_management_plan` or `other`.
    pub kind: String,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    #[serde(skip)]
    pub object_path: String,
    /// The virus scan's verdict (`clean`, or `not_scanned` without a scanner).
    pub scan: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

fn attachment_from(r: &AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: r.try_get("id")?,
        request_id: r.try_get("request_id")?,
        kind: r.try_get("kind")?,
        filename: r.try_get("filename")?,
        media_type: r.try_get("media_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        object_path: r.try_get("object_path")?,
        scan: r.try_get("scan")?,
        uploaded_by: r.try_get("uploaded_by")?,
        uploaded_at: r.try_get("uploaded_at")?,
    })
}

/// A committee member assigned to a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reviewer {
    pub request_id: String,
    pub user_id: String,
    pub assigned_by: String,
    pub assigned_at: String,
    /// `None` until declared; then `none` (no conflict) or `conflict`.
    pub declaration: Option<String>,
    pub declaration_note: Option<String>,
    pub declared_at: Option<String>,
}

impl Reviewer {
    /// Declared free of conflicts: may read the file and give the opinion.
    pub fn cleared(&self) -> bool {
        self.declaration.as_deref() == Some("none")
    }
}

fn reviewer_from(r: &AnyRow) -> Result<Reviewer> {
    Ok(Reviewer {
        request_id: r.try_get("request_id")?,
        user_id: r.try_get("user_id")?,
        assigned_by: r.try_get("assigned_by")?,
        assigned_at: r.try_get("assigned_at")?,
        declaration: opt_str(r, "declaration")?,
        declaration_note: opt_str(r, "declaration_note")?,
        declared_at: opt_str(r, "declared_at")?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comment {
    pub id: String,
    pub request_id: String,
    pub author_id: String,
    pub role: String,
    pub body: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Agreement {
    pub request_id: String,
    pub dataset_id: String,
    pub decided_by: String,
    /// `agreed` or `refused`.
    pub decision: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub request_id: Option<String>,
    pub subject: String,
    pub body: String,
    /// Path of the page it is about.
    pub link: String,
    pub created_at: String,
    pub read_at: Option<String>,
    /// `sent`, `failed`, `queued` or `none` (no address or no mail server).
    pub email: String,
}

fn notification_from(r: &AnyRow) -> Result<Notification> {
    Ok(Notification {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        request_id: opt_str(r, "request_id")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        link: r.try_get("link")?,
        created_at: r.try_get("created_at")?,
        read_at: opt_str(r, "read_at")?,
        email: r.try_get("email")?,
    })
}

impl Tx {
    pub async fn insert_attachment(&mut self, a: &Attachment) -> Result<()> {
        sqlx::query("INSERT INTO request_attachments (id, request_id, kind, filename, media_type, size, sha256, object_path, scan, uploaded_by, uploaded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
            .bind(a.id.clone())
            .bind(a.request_id.clone())
            .bind(a.kind.clone())
            .bind(a.filename.clone())
            .bind(a.media_type.clone())
            .bind(a.size)
            .bind(a.sha256.clone())
            .bind(a.object_path.clone())
            .bind(a.scan.clone())
            .bind(a.uploaded_by.clone())
            .bind(a.uploaded_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn delete_attachment(&mut self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM request_attachments WHERE id = $1")
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn assign_reviewer(
        &mut self,
        request_id: &str,
        user_id: &str,
        by: &str,
    ) -> Result<bool> {
        let exists = sqlx::query(
            "SELECT user_id FROM request_reviewers WHERE request_id = $1 AND user_id = $2",
        )
        .bind(request_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(self.conn())
        .await?
        .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query("INSERT INTO request_reviewers (request_id, user_id, assigned_by, assigned_at) VALUES ($1,$2,$3,$4)")
            .bind(request_id.to_string())
            .bind(user_id.to_string())
            .bind(by.to_string())
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(true)
    }

    pub async fn declare_interests(
        &mut self,
        request_id: &str,
        user_id: &str,
        declaration: &str,
        note: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE request_reviewers SET declaration = $3, declaration_note = $4, declared_at = $5 WHERE request_id = $1 AND user_id = $2")
            .bind(request_id.to_string())
            .bind(user_id.to_string())
            .bind(declaration.to_string())
            .bind(note.map(str::to_string))
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_comment(&mut self, c: &Comment) -> Result<()> {
        sqlx::query("INSERT INTO request_comments (id, request_id, author_id, role, body, at) VALUES ($1,$2,$3,$4,$5,$6)")
            .bind(c.id.clone())
            .bind(c.request_id.clone())
            .bind(c.author_id.clone())
            .bind(c.role.clone())
            .bind(c.body.clone())
            .bind(c.at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn agreements_in_tx(&mut self, request_id: &str) -> Result<Vec<Agreement>> {
        let rows =
            sqlx::query("SELECT * FROM producer_agreements WHERE request_id = $1 ORDER BY at")
                .bind(request_id.to_string())
                .fetch_all(self.conn())
                .await?;
        rows.iter().map(agreement_from).collect()
    }

    pub async fn insert_agreement(&mut self, a: &Agreement) -> Result<()> {
        sqlx::query("INSERT INTO producer_agreements (request_id, dataset_id, decided_by, decision, at) VALUES ($1,$2,$3,$4,$5)")
            .bind(a.request_id.clone())
            .bind(a.dataset_id.clone())
            .bind(a.decided_by.clone())
            .bind(a.decision.clone())
            .bind(a.at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_notification(&mut self, n: &Notification) -> Result<()> {
        sqlx::query("INSERT INTO notifications (id, user_id, request_id, subject, body, link, created_at, read_at, email) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(n.id.clone())
            .bind(n.user_id.clone())
            .bind(n.request_id.clone())
            .bind(n.subject.clone())
            .bind(n.body.clone())
            .bind(n.link.clone())
            .bind(n.created_at.clone())
            .bind(n.read_at.clone())
            .bind(n.email.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Moves a request's history in time (demo data only: `hdh serve --demo`
    /// seeds requests whose steps took realistic delays). `at[i]` is the time
    /// of the event of sequence number `i + 1`; the request's creation is set
    /// a day before the first.
    pub async fn retime_request(&mut self, request_id: &str, at: &[String]) -> Result<()> {
        for (i, t) in at.iter().enumerate() {
            sqlx::query("UPDATE request_events SET at = $3 WHERE request_id = $1 AND seq = $2")
                .bind(request_id.to_string())
                .bind(i as i64 + 1)
                .bind(t.clone())
                .execute(self.conn())
                .await?;
        }
        if let (Some(first), Some(last)) = (at.first(), at.last()) {
            let created = chrono::DateTime::parse_from_rfc3339(first)
                .map(|d| (d - chrono::Duration::days(1)).to_rfc3339())
                .unwrap_or_else(|_| first.clone());
            sqlx::query(
                "UPDATE access_requests SET created_at = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(request_id.to_string())
            .bind(created)
            .bind(last.clone())
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    pub async fn set_user_email(&mut self, user_id: &str, email: &str) -> Result<()> {
        sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
            .bind(user_id.to_string())
            .bind(email.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

fn agreement_from(r: &AnyRow) -> Result<Agreement> {
    Ok(Agreement {
        request_id: r.try_get("request_id")?,
        dataset_id: r.try_get("dataset_id")?,
        decided_by: r.try_get("decided_by")?,
        decision: r.try_get("decision")?,
        at: r.try_get("at")?,
    })
}

impl Store {
    pub async fn attachments(&self, request_id: &str) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT * FROM request_attachments WHERE request_id = $1 ORDER BY uploaded_at, id",
        )
        .bind(request_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(attachment_from).collect()
    }

    pub async fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        let row = sqlx::query("SELECT * FROM request_attachments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(attachment_from).transpose()
    }

    pub async fn reviewers(&self, request_id: &str) -> Result<Vec<Reviewer>> {
        let rows = sqlx::query(
            "SELECT * FROM request_reviewers WHERE request_id = $1 ORDER BY assigned_at, user_id",
        )
        .bind(request_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(reviewer_from).collect()
    }

    /// Requests a committee member is assigned to.
    pub async fn assignments(&self, user_id: &str) -> Result<Vec<Reviewer>> {
        let rows = sqlx::query("SELECT * FROM request_reviewers WHERE user_id = $1")
            .bind(user_id.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(reviewer_from).collect()
    }

    pub async fn comments(&self, request_id: &str) -> Result<Vec<Comment>> {
        let rows =
            sqlx::query("SELECT * FROM request_comments WHERE request_id = $1 ORDER BY at, id")
                .bind(request_id.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Comment {
                    id: r.try_get("id")?,
                    request_id: r.try_get("request_id")?,
                    author_id: r.try_get("author_id")?,
                    role: r.try_get("role")?,
                    body: r.try_get("body")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    pub async fn agreements(&self, request_id: &str) -> Result<Vec<Agreement>> {
        let rows =
            sqlx::query("SELECT * FROM producer_agreements WHERE request_id = $1 ORDER BY at")
                .bind(request_id.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(agreement_from).collect()
    }

    pub async fn notifications(&self, user_id: &str) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT * FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(notification_from).collect()
    }

    pub async fn unread_notifications(&self, user_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Marks a user's notifications read (one, or all). Reading one's inbox
    /// is not an audited change: it is the user's own view state.
    pub async fn mark_read(&self, user_id: &str, id: Option<&str>) -> Result<()> {
        let q = match id {
            Some(_) => {
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND id = $3"
            }
            None => {
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND $3 = ''"
            }
        };
        sqlx::query(q)
            .bind(user_id.to_string())
            .bind(now())
            .bind(id.unwrap_or("").to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_email_status(&self, id: &str, status: &str) -> Result<()> {
        sqlx::query("UPDATE notifications SET email = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(status.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Accounts holding a role (for notifying a step's owners).
    pub async fn users_with_role(&self, role: hdh_model::Role) -> Result<Vec<crate::User>> {
        Ok(self
            .users()
            .await?
            .into_iter()
            .filter(|u| u.has(role))
            .collect())
    }
}
