//! The pages: `www/` at `/www/` (the dashboard, the estimator widget and the browser
//! runner) and the wasm package beside it at `/wasm/pkg/web/`, so that the pages'
//! relative path `../wasm/pkg/web/` resolves as it does in the repository. `/` leads to
//! the dashboard.

use std::path::{Path, PathBuf};

use axum::response::Redirect;
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
        .nest_service("/www", ServeDir::new(www))
        .nest_service("/wasm/pkg/web", ServeDir::new(wasm))
}
