from django.http import HttpResponse
from django.urls import reverse

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>Django chat echo</title></head>
<body>
<h1>Django chat echo</h1>
<form id="chat">
  <input id="text" autocomplete="off" autofocus> <button>Send</button>
</form>
<ul id="messages"></ul>
<script>
  const url = new URL("%(echo_url)s", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  const show = (text) => {
    const item = document.createElement("li");
    item.textContent = text;
    document.getElementById("messages").append(item);
  };
  socket.addEventListener("message", (event) => show("echo: " + event.data));
  socket.addEventListener("close", (event) => show("closed (" + event.code + ")"));
  document.getElementById("chat").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    socket.send(input.value);
    show("you: " + input.value);
    input.value = "";
  });
</script>
</body>
</html>
"""


def index(request):
    return HttpResponse(PAGE % {"echo_url": reverse("echo")})


def echo(request):
    # The middleware in project/wsgi.py completed the handshake before Django
    # saw the request, and left the open WebSocket in the WSGI environ.
    ws = request.environ.get("wsgi.websocket")
    if ws is None:
        # A plain HTTP request for this URL, e.g. a browser tab.
        return HttpResponse(
            "This URL expects a WebSocket connection.\n",
            status=400,
            content_type="text/plain",
        )
    for message in ws:  # ends when the client closes
        ws.send(message)
    # Django insists on an HttpResponse from every view, so return an empty
    # one. Nothing of it reaches the client: the 101 response is already on
    # the wire, and the middleware discards whatever the WSGI app answers,
    # then closes the WebSocket with 1000 if the client has not done so.
    return HttpResponse()
