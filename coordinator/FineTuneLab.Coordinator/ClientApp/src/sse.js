// Server-Sent Events over fetch (EventSource cannot send the Authorization header the API key needs).
// Calls onEvent(type, data, id) per event and reconnects from the last id after a dropped connection.
import { authHeaders } from "./api.js";

export function openStream(path, onEvent, { resumeParam = "after_seq" } = {}) {
  const controller = new AbortController();
  let lastId = null;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const url = new URL(path, location.href);
        if (lastId !== null) url.searchParams.set(resumeParam, lastId);
        const response = await fetch(url, { headers: { ...authHeaders(), Accept: "text/event-stream" }, signal: controller.signal });
        if (!response.ok) { onEvent("stream-error", { status: response.status }); return; }
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = "message", data = "", id = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) type = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
              else if (line.startsWith("id: ")) id = line.slice(4);
            }
            if (id !== null) lastId = id;
            onEvent(type, data ? JSON.parse(data) : null, id);
          }
        }
        // The server ends the stream when the job is finished; that is not a drop.
        onEvent("stream-end", null);
        return;
      } catch (e) {
        if (controller.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return () => controller.abort();
}
