//! The one place that names concrete providers. Adding a format is a new crate
//! under `providers/` and one line here.

use std::collections::BTreeMap;
use std::sync::Arc;

use artifactd_provider_api::Provider;

#[derive(Clone)]
pub struct Registry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl Registry {
    /// Every provider compiled into this server.
    pub fn builtin() -> Self {
        let mut r = Registry {
            providers: BTreeMap::new(),
        };
        r.register(artifactd_provider_apt::AptProvider::default());
        r.register(artifactd_provider_pypi::PypiProvider::default());
        r.register(artifactd_provider_rpm::RpmProvider::default());
        r.register(artifactd_provider_tar::TarProvider::default());
        r
    }

    fn register(&mut self, p: impl Provider) {
        self.providers.insert(p.name(), Arc::new(p));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }
}
