// Command demoapp is the small web app scripts/portal-demo.sh protects
// with sessiond: one page that shows who forward auth says is signed in
// (the identity headers the proxy sets from sessiond's answer), with
// links to the portal's account page and sign-out. It trusts those
// headers because only the proxy can reach it (it listens on loopback).
package main

import (
	"flag"
	"html/template"
	"log"
	"net/http"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo app</title></head>
<body>
<h1>Demo app</h1>
<p id="who">Signed in as <strong id="login">{{.Login}}</strong>{{if .Name}} ({{.Name}}){{end}}.</p>
<ul>
<li>Page: <code>{{.Path}}</code></li>
<li>Groups: {{.Groups}}</li>
<li>Session: {{.Kind}} {{.Session}}</li>
</ul>
<p><a href="/auth/account">Your account and devices</a></p>
<form method="post" action="/auth/signout"><button type="submit">Sign out</button></form>
</body></html>
`))

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "`host:port` to listen on (loopback: only the proxy may reach it)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		h := r.Header
		err := page.Execute(w, map[string]string{"Login": h.Get("Remote-User"), "Name": h.Get("Remote-Name"),
			"Groups": h.Get("Remote-Groups"), "Kind": h.Get("X-Sessiond-Session-Kind"), "Session": h.Get("X-Sessiond-Session-Id"),
			"Path": r.URL.RequestURI()})
		if err != nil {
			log.Print(err)
		}
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("demo app on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}
