-- Issue 5: the single desk's full request, committee, producers' agreements,
-- attachments and notifications.

-- The request form's remaining fields (public summary, team, methodology,
-- funding, conflicts of interest, results at closing...) as one JSON document;
-- the legal route it follows; the active request an amendment amends.
ALTER TABLE access_requests ADD COLUMN details_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE access_requests ADD COLUMN route TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE access_requests ADD COLUMN amends TEXT;

-- The authority's decision number and structured details (the committee's
-- opinion, the dataset a producer agreed to) of a transition.
ALTER TABLE request_events ADD COLUMN reference TEXT;
ALTER TABLE request_events ADD COLUMN details_json TEXT;

-- Protocol, data management plan...: bytes in the lake, digest here.
CREATE TABLE request_attachments (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    object_path TEXT NOT NULL,
    scan TEXT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES users(id),
    uploaded_at TEXT NOT NULL
);
CREATE INDEX request_attachments_request ON request_attachments(request_id);

-- Committee members assigned to a request, and their declaration of
-- interests (NULL until declared; 'none' or 'conflict').
CREATE TABLE request_reviewers (
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    assigned_by TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    declaration TEXT,
    declaration_note TEXT,
    declared_at TEXT,
    PRIMARY KEY (request_id, user_id)
);

CREATE TABLE request_comments (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    author_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX request_comments_request ON request_comments(request_id);

-- One agreement per dataset of an authorised request.
CREATE TABLE producer_agreements (
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    dataset_id TEXT NOT NULL,
    decided_by TEXT NOT NULL REFERENCES users(id),
    decision TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (request_id, dataset_id)
);

-- The in-app inbox; the e-mail sent for each message, if any.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    request_id TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    email TEXT NOT NULL
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);

-- An e-mail address per account for notifications (optional).
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
