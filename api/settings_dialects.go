package api

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// dialectSettingsJSON are the settings of upstream behaviours
// (docs/DIALECTS.md), embedded in settingsJSON so PATCH /v1/settings and
// GET /v1/settings carry them beside the others.
type dialectSettingsJSON struct {
	KnoxAutoRefresh               *bool   `json:"knox_auto_refresh,omitempty"`
	KnoxMinRefreshIntervalSeconds *int64  `json:"knox_min_refresh_interval_seconds,omitempty"`
	KnoxTokenPrefix               *string `json:"knox_token_prefix,omitempty"`
	KnoxUserSerializer            *string `json:"knox_user_serializer,omitempty"`
	OdooVersion                   *string `json:"odoo_version,omitempty"`
	OdooWebBaseURL                *string `json:"odoo_web_base_url,omitempty"`
	OdooActiveIdsLimit            *int    `json:"odoo_active_ids_limit,omitempty"`
	JWTDialectKid                 *string `json:"jwt_dialect_kid,omitempty"`
	JWTRetiredGraceSeconds        *int64  `json:"jwt_retired_grace_seconds,omitempty"`
	// DialectPasswordWith2FA: the seed dialects sign in an account with a
	// second factor by its password alone (default off: app passwords only).
	DialectPasswordWith2FA *bool `json:"dialect_password_with_2fa,omitempty"`
	// Require2FAAdmins, Require2FADBs: the second-factor policy (forward
	// auth: authzstepup.go; /v1 and the portal: enrol.go; the seed
	// dialects: auth policy2fa.go and fsm needsSecondFactor).
	Require2FAAdmins *bool    `json:"require_2fa_admins,omitempty"`
	Require2FADBs    []string `json:"require_2fa_dbs,omitempty"`
}

// knoxMaxPrefix is knox's MAXIMUM_TOKEN_PREFIX_LENGTH.
const knoxMaxPrefix = 10

func toDialectSettings(st fsm.Settings) dialectSettingsJSON {
	minRefresh := st.KnoxMinRefreshInterval / int64(time.Second)
	grace := st.JWTRetiredGrace / int64(time.Second)
	version := odooVersion(st)
	limit := odooActiveIdsLimit(st)
	return dialectSettingsJSON{
		KnoxAutoRefresh: &st.KnoxAutoRefresh, KnoxMinRefreshIntervalSeconds: &minRefresh,
		KnoxTokenPrefix: &st.KnoxTokenPrefix, KnoxUserSerializer: &st.KnoxUserSerializer,
		OdooVersion: &version, OdooWebBaseURL: &st.OdooWebBaseURL, OdooActiveIdsLimit: &limit,
		JWTDialectKid: &st.JWTDialectKid, JWTRetiredGraceSeconds: &grace,
		DialectPasswordWith2FA: &st.DialectPasswordWith2FA,
		Require2FAAdmins:       &st.Require2FAAdmins, Require2FADBs: splitDBs(st.Require2FADBs),
	}
}

// apply checks and copies the fields that are set onto st.
func (in dialectSettingsJSON) apply(st *fsm.Settings, svc *auth.Service) error {
	if in.KnoxAutoRefresh != nil {
		st.KnoxAutoRefresh = *in.KnoxAutoRefresh
	}
	if in.DialectPasswordWith2FA != nil {
		st.DialectPasswordWith2FA = *in.DialectPasswordWith2FA
	}
	if in.Require2FAAdmins != nil {
		st.Require2FAAdmins = *in.Require2FAAdmins
	}
	if in.Require2FADBs != nil {
		if len(in.Require2FADBs) > 100 || slices.ContainsFunc(in.Require2FADBs, func(d string) bool { return d == "" || strings.Contains(d, ",") }) {
			return fieldError(ErrBadField, "require_2fa_dbs names at most 100 dbs, none empty or with a comma")
		}
		st.Require2FADBs = strings.Join(in.Require2FADBs, ",")
	}
	if v := in.JWTRetiredGraceSeconds; v != nil {
		if *v < 0 || *v > 10*365*24*3600 {
			return fieldError(ErrBadField, "jwt_retired_grace_seconds must be between 0 (the JWT lifetime) and 10 years")
		}
		st.JWTRetiredGrace = *v * int64(time.Second)
	}
	if v := in.KnoxMinRefreshIntervalSeconds; v != nil {
		if *v < 0 || *v > 10*365*24*3600 {
			return fieldError(ErrBadField, "knox_min_refresh_interval_seconds must be between 0 and 10 years")
		}
		st.KnoxMinRefreshInterval = *v * int64(time.Second)
	}
	if v := in.KnoxTokenPrefix; v != nil {
		if len(*v) > knoxMaxPrefix || strings.ContainsFunc(*v, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return fieldError(ErrBadField, "knox_token_prefix must be at most 10 printable ASCII characters without spaces")
		}
		st.KnoxTokenPrefix = *v
	}
	if v := in.KnoxUserSerializer; v != nil {
		if *v != "" && *v != knoxSerializerUser {
			return fieldError(ErrBadField, `knox_user_serializer must be "" or "user"`)
		}
		st.KnoxUserSerializer = *v
	}
	if v := in.OdooVersion; v != nil {
		if _, ok := odooVersions[*v]; !ok && *v != "" {
			return fieldError(ErrBadField, `odoo_version must be "13.0", "14.0" or "15.0"`)
		}
		st.OdooVersion = *v
	}
	if v := in.OdooWebBaseURL; v != nil {
		if u, err := url.Parse(*v); *v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(*v) > 512) {
			return fieldError(ErrBadField, "odoo_web_base_url must be an http(s) URL")
		}
		st.OdooWebBaseURL = strings.TrimRight(*v, "/")
	}
	if v := in.OdooActiveIdsLimit; v != nil {
		if *v < 0 {
			return fieldError(ErrBadField, "odoo_active_ids_limit must be >= 0")
		}
		st.OdooActiveIdsLimit = *v
	}
	if v := in.JWTDialectKid; v != nil {
		if *v != "" && !svc.HasLiveKey(*v) {
			return fieldError(ErrBadField, "jwt_dialect_kid must name a key of the keyring that is not retired")
		}
		st.JWTDialectKid = *v
	}
	return nil
}

// splitDBs is the settings' comma-separated db list as a list (never nil).
func splitDBs(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
