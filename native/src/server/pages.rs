//! The pages: `www/` at `/www/` (the dashboard, the estimator widget and the browser
//! runner) and the wasm package beside it at `/wasm/pkg/web/`, so that the pages'
//! relative path `../wasm/pkg/web/` resolves as it does in the repository. `/` leads to
//! the dashboard.
//!
//! Only files inside those two folders are served: a path with a segment that starts
//! with `.` (a dotfile, a dot folder, `..`, also percent-encoded) or holds a backslash
//! is refused, and so is a symbolic link that leads outside the folder; each answers
//! 404, as a missing file does. The check looks at the files as the request comes, so
//! a link swapped between the check and the read is not caught; the folders are the
//! operator's, not the users'.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;

use super::AppState;

/// Where the pages are when `--www` is not given: `./www` when it exists, else the
/// `www/` of the source tree the binary was built from.
pub fn default_www() -> PathBuf {
    let here = PathBuf::from("www");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../www")
}

/// The routes of the pages under `www`.
pub fn routes(www: &Path) -> Router<AppState> {
    let wasm = www.join("../wasm/pkg/web");
    Router::new()
        .route("/", get(|| async { Redirect::to("/www/dashboard.html") }))
        .nest_service("/www", folder(www))
        .nest_service("/wasm/pkg/web", folder(&wasm))
}

/// The files of `root`, as far as [`servable`] allows.
fn folder(root: &Path) -> Router {
    let root = Arc::new(root.to_path_buf());
    Router::new()
        .fallback_service(ServeDir::new(root.as_path()))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let root = root.clone();
            async move {
                if servable(&root, request.uri().path()) {
                    next.run(request).await
                } else {
                    not_found()
                }
            }
        }))
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Whether `path`, as the URL gives it below the folder, may be served from `root`: no
/// segment starts with `.` or holds a backslash once percent-decoded, and what it names,
/// with every symbolic link followed, is inside `root`. A path naming nothing passes,
/// and the file service answers 404.
fn servable(root: &Path, path: &str) -> bool {
    let Ok(path) = String::from_utf8(percent_decode(path)) else {
        return false;
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .iter()
        .any(|segment| segment.starts_with('.') || segment.contains(['\\', '\0']))
    {
        return false;
    }
    let target = segments
        .iter()
        .fold(root.to_path_buf(), |path, segment| path.join(segment));
    match (target.canonicalize(), root.canonicalize()) {
        (Ok(target), Ok(root)) => target.starts_with(root),
        (Err(_), _) => true,
        (Ok(_), Err(_)) => false,
    }
}

/// `text` with every `%XX` escape decoded; a `%` not followed by two hex digits stays.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode_and_stray_percent_signs_stay() {
        assert_eq!(percent_decode("%2e%2E/a%5cb"), b"../a\\b");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%+f"), b"%+f");
    }
}
