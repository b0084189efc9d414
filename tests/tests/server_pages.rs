//! The pages `convoy serve` serves: only regular files inside `--www` (at `/www/`) and
//! its sibling `wasm/pkg/web` (at `/wasm/pkg/web/`), never a dotfile, a symbolic link
//! that leads outside them, or a path that climbs out.
//!
//! Requests are written by hand on a TCP stream, so that no client tidies a path up
//! before the server sees it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use convoy_tests::serve::{Server, ANA};
use convoy_tests::Scratch;

/// `GET path` as written; the status code and the body.
fn get_raw(server: &Server, path: &str) -> (u16, String) {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("the server listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the answer reads");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    (status, body)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn pages_are_files_inside_the_served_folders_and_never_dotfiles_links_out_or_climbs() {
    let scratch = Scratch::new("server-pages");
    // The server writes its tokens file beside the database: the secret to protect.
    let site = scratch.path().join("site");
    let www = site.join("www");
    write(&www.join("dashboard.html"), "<title>dashboard</title>");
    write(&www.join("pages/run.html"), "<title>runner</title>");
    write(&www.join(".secret"), "a dotfile");
    write(&www.join(".git/config"), "a dot folder");
    write(&site.join("wasm/pkg/web/convoy_wasm.js"), "// wasm glue");
    write(&site.join("wasm/pkg/web/.env"), "KEY=1");
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink("dashboard.html", www.join("inside.html")).unwrap();
        symlink("pages", www.join("more")).unwrap();
        symlink("../../tokens.txt", www.join("outside.txt")).unwrap();
        symlink("../..", www.join("up")).unwrap();
    }
    let www_arg = www.display().to_string();
    let server = Server::start(&scratch.db(), &["--www", &www_arg], &[]);
    let tokens = std::fs::read_to_string(scratch.path().join("tokens.txt")).unwrap();
    assert!(tokens.contains(ANA));

    for (path, text) in [
        ("/www/dashboard.html", "<title>dashboard</title>"),
        ("/www/pages/run.html", "<title>runner</title>"),
        ("/wasm/pkg/web/convoy_wasm.js", "// wasm glue"),
        #[cfg(unix)]
        ("/www/inside.html", "<title>dashboard</title>"),
        #[cfg(unix)]
        ("/www/more/run.html", "<title>runner</title>"),
    ] {
        let (status, body) = get_raw(&server, path);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(text), "{path}: {body}");
    }

    let refused = [
        "/www/.secret",
        "/www/.git/config",
        "/www/%2esecret",
        "/wasm/pkg/web/.env",
        "/www/outside.txt",
        "/www/up/tokens.txt",
        "/www/../../tokens.txt",
        "/www/%2e%2e/%2e%2e/tokens.txt",
        "/www/..%2f..%2ftokens.txt",
        "/www/..%5c..%5ctokens.txt",
        "/www/pages/..%2f..%2f..%2ftokens.txt",
        "/wasm/pkg/web/../../../../tokens.txt",
    ];
    for path in refused {
        let (status, body) = get_raw(&server, path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains(ANA), "{path} leaked the tokens");
    }
}
