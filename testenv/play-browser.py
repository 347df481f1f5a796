# Plays the browser for a printed authorization URL against oidc-provider's development login
# and consent forms (any login; it becomes sub), then delivers the redirect to the client.
# Usage: play-browser.py <authorization URL> <login>. Used by bench-cli.sh.
import sys, re, urllib.request, urllib.parse, http.cookiejar
url, login = sys.argv[1], sys.argv[2]
redirect = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["redirect_uri"][0]
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
data = None
for _ in range(20):
    try:
        r = opener.open(url, data=data); status = r.status; body = r.read().decode(); loc = None
    except urllib.error.HTTPError as e:
        status = e.code; loc = e.headers.get("Location"); body = ""
    data = None
    if loc:
        url = urllib.parse.urljoin(url, loc)
        if url.startswith(redirect):
            print(urllib.request.urlopen(url).read().decode()[:80]); break
        continue
    action = re.search(r'<form[^>]*action="([^"]+)"', body).group(1)
    prompt = re.search(r'name="prompt" value="([^"]+)"', body).group(1)
    url = urllib.parse.urljoin(url, action)
    fields = {"prompt": prompt}
    if prompt == "login": fields.update(login=login, password="x")
    data = urllib.parse.urlencode(fields).encode()
