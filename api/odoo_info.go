package api

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/fsm"
)

// odooVersions are the Odoo branches whose session_info shape the login
// answer can take (the seed module's branches, 13.0 to 15.0): the
// settings' odoo_version picks one, "" is 15.0, the shape sessiond gave
// before the setting existed.
var odooVersions = map[string]int{"13.0": 13, "14.0": 14, "15.0": 15}

const (
	defaultOdooVersion    = "15.0"
	defaultActiveIdsLimit = 20000 // web.active_ids_limit's default in Odoo 14 and 15
)

func odooVersion(st fsm.Settings) string {
	if _, ok := odooVersions[st.OdooVersion]; ok {
		return st.OdooVersion
	}
	return defaultOdooVersion
}

func odooActiveIdsLimit(st fsm.Settings) int {
	if st.OdooActiveIdsLimit > 0 {
		return st.OdooActiveIdsLimit
	}
	return defaultActiveIdsLimit
}

// odooBaseURL is web.base.url: the setting, else the request's own scheme
// and host (what Odoo stores on an admin's first login).
func (s *Server) odooBaseURL(r *http.Request) string {
	if v := s.svc.Settings().OdooWebBaseURL; v != "" {
		return v
	}
	scheme := "http"
	if s.cfg.TLS || r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// odooSessionInfo is ir.http's session_info() for an internal user in the
// shape of the configured Odoo version (odoo/addons/web/models/ir_http.py
// of 13.0, 14.0, 15.0), with the keys that mean something without an Odoo
// behind it. Per version:
//
//   - all: uid, is_system, is_admin, user_context, db, server_version
//     ("15.0"), server_version_info ([15, 0, 0, "final", 0, ""]), name,
//     username, partner_display_name, company_id, partner_id,
//     web.base.url, user_companies, currencies, show_effect,
//     display_switch_company_menu;
//   - 14.0 and 15.0: active_ids_limit;
//   - 15.0: support_url, max_file_upload_size, home_action_id (false: no
//     home action), and user_companies as {current_company: id,
//     allowed_companies: {id: {id, name, sequence}}} where 13.0 and 14.0
//     have {current_company: [id, name], allowed_companies: [[id, name]]}.
//
// Left out, as they name Odoo's own assets or state: cache_hashes,
// profile_*, bundle_params, user_settings. partner_id is the user's id
// (sessiond keeps no separate partners); currencies is one currency, the
// US dollar of a new Odoo database, under id 1 with Odoo's digits [69, 2].
func odooSessionInfo(u *fsm.User, st fsm.Settings, baseURL string) map[string]any {
	cid, cname := company(u)
	name := displayName(u)
	version := odooVersion(st)
	major := odooVersions[version]
	out := map[string]any{
		"uid":                  u.ID,
		"is_system":            u.Admin,
		"is_admin":             u.Admin,
		"user_context":         map[string]any{"lang": "en_US", "tz": "UTC", "uid": u.ID},
		"db":                   u.DB,
		"server_version":       version,
		"server_version_info":  []any{major, 0, 0, "final", 0, ""},
		"name":                 name,
		"username":             u.Login,
		"partner_display_name": name,
		"company_id":           cid,
		"partner_id":           u.ID,
		"web.base.url":         baseURL,
		"currencies": map[string]any{
			"1": map[string]any{"symbol": "$", "position": "before", "digits": []int{69, 2}},
		},
		"show_effect":                 true,
		"display_switch_company_menu": false,
	}
	if major >= 14 {
		out["active_ids_limit"] = odooActiveIdsLimit(st)
	}
	if major >= 15 {
		out["support_url"] = "https://www.odoo.com/buy"
		out["max_file_upload_size"] = 128 << 20
		out["home_action_id"] = false
		out["user_companies"] = map[string]any{
			"current_company": cid,
			"allowed_companies": map[string]any{
				strconv.FormatUint(cid, 10): map[string]any{"id": cid, "name": cname, "sequence": 10},
			},
		}
	} else {
		out["user_companies"] = map[string]any{
			"current_company":   []any{cid, cname},
			"allowed_companies": []any{[]any{cid, cname}},
		}
	}
	return out
}
