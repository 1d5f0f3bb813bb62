//! The settings both services read to reach Google: the project, an emulator or real
//! credentials. One parser, so the gateway (the cluster's directory) and the recorder (uploads,
//! the directory) accept the same variables with the same messages.

use memharbor_shared::settings_source::{SettingsError, err, flag};
use secrecy::SecretString;

/// How to authenticate to Google.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// `FIREBASE_USE_EMULATOR=true`: the emulators take any bearer.
    Emulator,
    /// `FIREBASE_SERVICE_ACCOUNT`: a service account key (JSON).
    ServiceAccount(SecretString),
    /// Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, metadata server, gcloud).
    ApplicationDefault,
}

/// Where Firestore is and how to reach it.
#[derive(Debug, Clone)]
pub struct FirestoreSettings {
    pub project_id: String,
    /// `https://firestore.googleapis.com`, or the emulator's base URL.
    pub base_url: String,
    pub credentials: CredentialSource,
}

pub const FIRESTORE_PRODUCTION: &str = "https://firestore.googleapis.com";

/// `host:port` or a URL → a base URL without a trailing slash.
pub fn emulator_base(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    }
}

/// `FIREBASE_PROJECT_ID`'s rule.
pub fn project_id(value: &str) -> Result<&str, SettingsError> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(err(
            "FIREBASE_PROJECT_ID",
            "must be a Firebase project id (letters, digits and dashes)",
        ));
    }
    Ok(value)
}

/// The credentials the variables name: the emulator, a service account key (checked, never
/// echoed), or Application Default Credentials.
pub fn credentials(
    use_emulator: Option<&str>,
    service_account: Option<&str>,
) -> Result<CredentialSource, SettingsError> {
    if flag("FIREBASE_USE_EMULATOR", use_emulator)? {
        Ok(CredentialSource::Emulator)
    } else if let Some(json) = service_account {
        crate::check_service_account(json)
            .map_err(|problem| err("FIREBASE_SERVICE_ACCOUNT", problem))?;
        Ok(CredentialSource::ServiceAccount(SecretString::from(
            json.to_owned(),
        )))
    } else {
        Ok(CredentialSource::ApplicationDefault)
    }
}

/// Firestore from `FIREBASE_PROJECT_ID`, `FIREBASE_USE_EMULATOR` + `FIRESTORE_EMULATOR_HOST`,
/// `FIREBASE_SERVICE_ACCOUNT`; `None` without a project.
pub fn firestore(
    project: Option<&str>,
    use_emulator: Option<&str>,
    emulator_host: Option<&str>,
    service_account: Option<&str>,
) -> Result<Option<FirestoreSettings>, SettingsError> {
    let Some(project) = project else {
        return Ok(None);
    };
    let project_id = project_id(project)?.to_owned();
    let credentials = credentials(use_emulator, service_account)?;
    let base_url = match credentials {
        CredentialSource::Emulator => emulator_base(emulator_host.ok_or_else(|| {
            err(
                "FIRESTORE_EMULATOR_HOST",
                "is missing: with FIREBASE_USE_EMULATOR=true it gives the Firestore emulator's host:port",
            )
        })?),
        _ => FIRESTORE_PRODUCTION.to_owned(),
    };
    Ok(Some(FirestoreSettings {
        project_id,
        base_url,
        credentials,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_needs_its_host_and_a_project_id_is_checked() {
        assert!(firestore(None, Some("true"), None, None).unwrap().is_none());
        let e = firestore(Some("demo-p"), Some("true"), None, None).unwrap_err();
        assert_eq!(e.variable, "FIRESTORE_EMULATOR_HOST");
        let s = firestore(Some("demo-p"), Some("true"), Some("127.0.0.1:8080"), None)
            .unwrap()
            .unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:8080");
        assert_eq!(
            firestore(Some("a b"), None, None, None)
                .unwrap_err()
                .variable,
            "FIREBASE_PROJECT_ID"
        );
    }

    #[test]
    fn a_malformed_service_account_is_refused_without_being_echoed() {
        let e = firestore(Some("p"), None, None, Some("{\"secret\": 1}")).unwrap_err();
        assert_eq!(e.variable, "FIREBASE_SERVICE_ACCOUNT");
        assert!(!e.problem.contains("secret"));
    }
}
