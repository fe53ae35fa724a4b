//! The manifest loader, then resolution and check, on arbitrary input read as
//! YAML and as JSON: loading either fails with an error or gives a snapshot that
//! every row and finding can be computed for, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls::policy::resolve::Index;
use mtls::source::Api;
use mtls::source::manifests::{Input, LoadOptions, load};

fuzz_target!(|text: &str| {
    let options = LoadOptions {
        root_namespace: None,
        api: Api::Auto,
    };
    for name in ["fuzz.yaml", "fuzz.json"] {
        if let Ok(loaded) = load(&[Input::text(name, text)], &options) {
            let index = Index::new(&loaded.snapshot);
            let _ = index.all_rows();
            let _ = mtls::check::check(&loaded.snapshot);
        }
    }
});
