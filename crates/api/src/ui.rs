//! The web UI: the files under `web/`, embedded at compile time by `build.rs`, served at `/`.
//!
//! Known files are served with their content type, an ETag (a hash of the content) and
//! `Cache-Control: no-cache`, so browsers revalidate cheaply (`304 Not Modified`). The UI uses
//! history-style routes (`/search?…`, `/trace/{id}`, `/map`, `/service/{name}`, `/sql?q=…`):
//! a GET of any other path that is not a file (no extension in its last segment, or under one
//! of the UI's views) answers `index.html`, and the page routes itself. The fallback never
//! shadows the API: the API and health routes are matched first, and an unknown `/api/…`,
//! `/metrics…`, `/healthz…` or `/readyz…` path is a `404` JSON error.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::error::ApiError;

/// One embedded file.
pub(crate) struct Asset {
    /// Path relative to `web/`, with `/` separators.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Quoted content hash, ready for the `ETag` header.
    pub etag: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Paths owned by the server, never answered with the UI.
const RESERVED: [&str; 4] = ["/api", "/metrics", "/healthz", "/readyz"];

/// First path segments of the UI's views: deep links under them are the page, whatever they
/// contain (a service name may have dots).
const VIEWS: [&str; 5] = ["search", "trace", "map", "service", "sql"];

const SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The UI as the router's fallback (merge it last; it adds no routes of its own).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().fallback(serve)
}

fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .map(|i| &ASSETS[i])
}

fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether `path` is a page of the UI rather than a file.
fn is_page(path: &str) -> bool {
    let first = path.split('/').next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    VIEWS.contains(&first) || !last.contains('.')
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if is_reserved(path) {
        return ApiError::not_found(format!("no such endpoint: {method} {path}")).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
        )
            .into_response();
    }
    let relative = path.trim_start_matches('/');
    let found = match asset(relative) {
        Some(found) => Some(found),
        None if is_page(relative) => asset("index.html"),
        None => None,
    };
    match found {
        Some(found) => respond(found, &headers),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == asset.etag || t.trim() == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.path == "index.html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SECURITY_POLICY),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::router;

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    async fn send(method: Method, path: &str, if_none_match: Option<&str>) -> Answer {
        let state = ApiState {
            ready: Arc::new(AtomicBool::new(true)),
            render_metrics: Arc::new(|| "meshscope_up 1\n".to_owned()),
            query: Arc::default(),
            aggregates: Arc::default(),
        };
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = router(state)
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(path: &str) -> Answer {
        send(Method::GET, path, None).await
    }

    fn content_type(answer: &Answer) -> &str {
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
    }

    fn index() -> &'static str {
        std::str::from_utf8(asset("index.html").expect("index.html").body).expect("utf-8")
    }

    #[test]
    fn the_table_is_sorted_and_typed_and_leaves_out_docs() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
        for asset in ASSETS {
            assert_ne!(
                asset.content_type, "application/octet-stream",
                "{}",
                asset.path
            );
            assert!(!asset.path.ends_with("README.md"), "{}", asset.path);
            assert!(asset.etag.starts_with('"') && asset.etag.ends_with('"'));
        }
        assert!(asset("index.html").is_some());
        assert!(asset("js/main.js").is_some());
    }

    #[tokio::test]
    async fn serves_files_with_type_and_etag() {
        let root = get("/").await;
        assert_eq!(root.status, StatusCode::OK);
        assert_eq!(content_type(&root), "text/html; charset=utf-8");
        assert_eq!(root.body, index());
        assert!(root.headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(root.headers[header::CACHE_CONTROL], "no-cache");

        let script = get("/js/main.js").await;
        assert_eq!(script.status, StatusCode::OK);
        assert_eq!(content_type(&script), "text/javascript; charset=utf-8");
        let style = get("/css/app.css").await;
        assert_eq!(content_type(&style), "text/css; charset=utf-8");

        let etag = script.headers[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_owned();
        let again = send(Method::GET, "/js/main.js", Some(&etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        let changed = send(Method::GET, "/js/main.js", Some("\"0\"")).await;
        assert_eq!(changed.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn deep_links_answer_the_page() {
        for path in [
            "/search?service=checkout&lookback=1h",
            "/trace/5b8efff798038103d269b633813fc60c?span=00f067aa0ba902b7",
            "/map",
            "/service/payments.v2",
            "/sql?q=SELECT%201",
            "/some/unknown/page",
        ] {
            let answer = get(path).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(answer.body, index(), "{path}");
        }
        assert_eq!(get("/missing.png").await.status, StatusCode::NOT_FOUND);
        assert_eq!(get("/js/missing.js").await.status, StatusCode::NOT_FOUND);
        let post = send(Method::POST, "/search", None).await;
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn never_shadows_the_api() {
        for path in [
            "/api/v1/nope",
            "/api/nope",
            "/api",
            "/metrics/x",
            "/healthz/x",
        ] {
            let answer = get(path).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(content_type(&answer), "application/json", "{path}");
            assert!(answer.body.contains("\"error\""), "{path}");
        }
        let post = send(Method::POST, "/api/v1/unknown", None).await;
        assert_eq!(post.status, StatusCode::NOT_FOUND);
        assert_eq!(get("/healthz").await.body, "ok\n");
        assert_eq!(get("/metrics").await.body, "meshscope_up 1\n");
        assert_eq!(get("/readyz").await.status, StatusCode::OK);
        // a known route keeps its own answer (503: no query engine in this state)
        let services = get("/api/v1/services").await;
        assert_eq!(services.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
