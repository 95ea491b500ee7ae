const net = require("net"); const [,, path, mode] = process.argv; try { require("fs").unlinkSync(path) } catch {}
net.createServer((c) => { c.on("data", () => {
  if (mode === "silent") return;
  if (mode === "half") { c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial"); setTimeout(() => c.destroy(), 50); return; }
  if (mode === "noclose") { c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"); return; }
  if (mode === "http10") { c.end("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":10}"); return; }
}); c.on("error", () => {}); }).listen(path);
