//! Credentials: the `authorization` header, checked in a layer in front of
//! every method (implemented or not) except `Handshake`, which reads its own.

use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures::future::BoxFuture;
use tonic::Status;
use tonic::codegen::http;
use tonic::transport::server::TcpConnectInfo;

use crate::{Backend, Principal};

pub(crate) const HANDSHAKE_PATH: &str = "/arrow.flight.protocol.FlightService/Handshake";

/// Standard base64, padded or not (Go's Flight client sends it unpadded).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const NO_CREDENTIALS: &str = "no credentials: send the header `authorization: Bearer <token>` \
     with an access token of your project";

/// The token of an `authorization: Bearer <token>` header.
pub(crate) fn bearer(header: Option<&[u8]>) -> Result<String, Status> {
    let value = header_str(header)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => nonempty(token),
        _ => Err(Status::unauthenticated(
            "unsupported authorization scheme: send `authorization: Bearer <token>`",
        )),
    }
}

/// The token of a handshake: `Bearer <token>`, or HTTP Basic with any user
/// name and the token as password.
pub(crate) fn handshake_token(header: Option<&[u8]>) -> Result<String, Status> {
    let value = header_str(header)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => nonempty(token),
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
            let decoded = BASE64
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| Status::unauthenticated("malformed HTTP Basic credentials"))?;
            let (_user, password) = decoded.split_once(':').ok_or_else(|| {
                Status::unauthenticated("malformed HTTP Basic credentials: no `:`")
            })?;
            nonempty(password)
        }
        _ => Err(Status::unauthenticated(
            "unsupported authorization scheme: use `Bearer <token>`, or HTTP Basic \
             with the token as password",
        )),
    }
}

fn header_str(header: Option<&[u8]>) -> Result<&str, Status> {
    let bytes = header.ok_or_else(|| Status::unauthenticated(NO_CREDENTIALS))?;
    std::str::from_utf8(bytes)
        .map(str::trim)
        .map_err(|_| Status::unauthenticated("the authorization header is not text"))
}

fn nonempty(token: &str) -> Result<String, Status> {
    let token = token.trim();
    if token.is_empty() {
        Err(Status::unauthenticated(NO_CREDENTIALS))
    } else {
        Ok(token.to_owned())
    }
}

/// The principal the layer authenticated for this call.
pub(crate) fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        // Only if the service is mounted without its layer: fail closed.
        .ok_or_else(|| Status::unauthenticated(NO_CREDENTIALS))
}

/// Authenticates every call but `Handshake` through [`Backend::authenticate`]
/// and hands the [`Principal`] to the handlers in the request's extensions.
#[derive(Clone)]
pub(crate) struct AuthLayer {
    backend: Arc<dyn Backend>,
}

impl AuthLayer {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        AuthLayer { backend }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            backend: Arc::clone(&self.backend),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Authenticated<S> {
    inner: S,
    backend: Arc<dyn Backend>,
}

impl<S, B, R> tower::Service<http::Request<B>> for Authenticated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone may not be ready: call the one that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let backend = Arc::clone(&self.backend);
        Box::pin(async move {
            if request.uri().path() == HANDSHAKE_PATH {
                return inner.call(request).await;
            }
            let peer = request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr);
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(http::HeaderValue::as_bytes);
            let who = match bearer(header) {
                Ok(token) => backend.authenticate(&token, peer).await,
                Err(status) => Err(status),
            };
            match who {
                Ok(who) => {
                    request.extensions_mut().insert(who);
                    inner.call(request).await
                }
                Err(status) => {
                    tracing::info!(
                        target: "hdh_flight",
                        path = request.uri().path(),
                        peer = ?peer,
                        code = ?status.code(),
                        message = status.message(),
                        "call refused: not authenticated"
                    );
                    Ok(status.into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(Some(b"Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some(b"bearer  abc ")).unwrap(), "abc");
        for bad in [
            None,
            Some(&b"Bearer "[..]),
            Some(b"Basic YTpi"),
            Some(b"abc"),
        ] {
            assert_eq!(
                bearer(bad).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }

    #[test]
    fn basic_handshake_takes_the_password() {
        // "anyone:tok-1", padded and unpadded (Go's client does not pad).
        assert_eq!(
            handshake_token(Some(b"Basic YW55b25lOnRvay0x")).unwrap(),
            "tok-1"
        );
        // ":tok:2" → password "tok:2", unpadded.
        assert_eq!(handshake_token(Some(b"Basic OnRvazoy")).unwrap(), "tok:2");
        // "u:ab" padded and unpadded.
        assert_eq!(handshake_token(Some(b"Basic dTphYg==")).unwrap(), "ab");
        assert_eq!(handshake_token(Some(b"Basic dTphYg")).unwrap(), "ab");
        assert_eq!(handshake_token(Some(b"Bearer xyz")).unwrap(), "xyz");
        // "u:" (no password), "u" (no colon), not base64, no header.
        for bad in [
            Some(&b"Basic dTo="[..]),
            Some(b"Basic dQ=="),
            Some(b"Basic !!!"),
            None,
        ] {
            assert_eq!(
                handshake_token(bad).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }
}
