//! A real headless Chromium driven over the W3C WebDriver protocol (chromedriver),
//! with plain HTTP requests: open a page, run a script, read what it returns.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Chromium and chromedriver, where Debian puts them; `None` when they are missing.
pub fn available() -> bool {
    std::path::Path::new("/usr/bin/chromium").exists()
        && std::path::Path::new("/usr/bin/chromedriver").exists()
}

impl Browser {
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        // The flags the machine's notes ask for: no background networking (the
        // network is closed), no sandbox as root, autoplay without a gesture.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = serde_json::json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}
        });
        let created: serde_json::Value = ureq::post(&format!("{base}/session"))
            .send_json(capabilities)
            .expect("new WebDriver session")
            .into_json()
            .expect("session JSON");
        let session = created["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        Browser {
            driver,
            base,
            session,
            _profile: profile,
        }
    }

    pub fn open(&self, url: &str) {
        ureq::post(&format!("{}/session/{}/url", self.base, self.session))
            .send_json(serde_json::json!({ "url": url }))
            .expect("navigate");
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn run(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        let answer: serde_json::Value = ureq::post(&format!(
            "{}/session/{}/execute/sync",
            self.base, self.session
        ))
        .send_json(serde_json::json!({ "script": script, "args": args }))
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
        .into_json()
        .expect("script JSON");
        answer["value"].clone()
    }

    /// Saves what the page looks like (base64 PNG from the driver).
    pub fn screenshot(&self, path: &std::path::Path) {
        let answer: serde_json::Value = ureq::get(&format!(
            "{}/session/{}/screenshot",
            self.base, self.session
        ))
        .call()
        .expect("screenshot")
        .into_json()
        .expect("screenshot JSON");
        let encoded = answer["value"].as_str().unwrap_or("");
        let tmp = path.with_extension("b64");
        std::fs::write(&tmp, encoded).expect("write");
        let status = std::process::Command::new("base64")
            .arg("-d")
            .arg(&tmp)
            .stdout(std::fs::File::create(path).expect("create"))
            .status()
            .expect("base64");
        assert!(status.success());
        let _ = std::fs::remove_file(&tmp);
    }
}
