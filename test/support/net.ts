// Opening many unix-socket connections at once. A unix socket's connect() succeeds as soon as the
// connection is queued, accepted or not; once the listen backlog (511 in Node) is full, connect()
// fails with EAGAIN, which means "try again", not "refused". A busy CI machine gets there.
import { connect, type Socket } from "node:net";

export async function openSocket(path: string, deadlineMs = 10_000): Promise<Socket> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(path, () => {
          socket.off("error", reject);
          resolve(socket);
        });
        socket.once("error", reject);
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN" || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Writes `payload` on an open socket and resolves with exactly that many echoed bytes, then closes it. */
export function echoOn(socket: Socket, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on("error", reject);
    socket.write(payload);
  });
}
