//! Certificates made at run time for TLS tests: a certificate authority that issues server and
//! client certificates (optionally expired), as PEM.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// An authority's certificate and another authority's, as PEM files in a temporary directory
/// (removed on drop): what a client trusts, and what it should not.
pub struct CaFiles {
    /// The authority's certificate.
    pub ca: PathBuf,
    /// Another authority's certificate.
    pub other_ca: PathBuf,
    _dir: tempfile::TempDir,
}

/// A certificate authority.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

impl Authority {
    /// A new authority named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Authority {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// This authority's certificate and another's, written to files.
    pub fn write_files(&self) -> CaFiles {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &self.pem).expect("CA file");
        let other_ca = dir.path().join("other-ca.pem");
        std::fs::write(&other_ca, Authority::new("another CA").pem).expect("CA file");
        CaFiles {
            ca,
            other_ca,
            _dir: dir,
        }
    }

    /// A certificate for `names`, and its key, as PEM; `expired` puts its validity in the past.
    pub fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        self.issue_to(names, None, expired)
    }

    /// A client certificate whose common name is `user` (PostgreSQL's `cert` authentication
    /// takes the user from it), and its key, as PEM.
    pub fn issue_client(&self, user: &str) -> (String, String) {
        self.issue_to(&[], Some(user), false)
    }

    fn issue_to(
        &self,
        names: &[&str],
        common_name: Option<&str>,
        expired: bool,
    ) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        if let Some(common_name) = common_name {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, common_name);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }
}
