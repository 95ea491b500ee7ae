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
