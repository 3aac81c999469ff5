/*
 * Attachments of the customer chat: local checks, upload, and showing a file. The files
 * need `Authorization: Bearer <visitor token>`, which <img src> cannot send, so they are
 * fetched and shown from blob: URLs. Downloads are forced to application/octet-stream, so a
 * file can never be opened as a page of the Hotline origin.
 */

const INLINE_IMAGES = /^image\/(png|jpeg|gif|webp)$/;

export function humanSize(bytes, lang) {
  const n = Number(bytes) || 0;
  const fmt = (v) => v.toLocaleString(lang === "zh" ? "zh-CN" : "en", { maximumFractionDigits: 1 });
  if (n >= 1024 * 1024) {
    return fmt(n / (1024 * 1024)) + " MB";
  }
  if (n >= 1024) {
    return fmt(n / 1024) + " KB";
  }
  return n + " B";
}

/** Is a MIME type in the page's accept list (exact, or `type/*`)? */
export function accepted(type, accept) {
  if (!accept.length) {
    return true;
  }
  const t = String(type || "").toLowerCase();
  return accept.some((a) => {
    const want = a.toLowerCase();
    return want === t || (want.endsWith("/*") && t.startsWith(want.slice(0, -1)));
  });
}

/** Why a file may not be sent, or null. */
export function refusal(file, maxBytes, accept) {
  if (file.size > maxBytes) {
    return "file_too_big";
  }
  if (!accepted(file.type, accept)) {
    return "file_type";
  }
  return null;
}

export class Files {
  /** @param {{url: string, token: () => string|null, lang: string, words: object}} opts */
  constructor(opts) {
    this.opts = opts;
  }

  headers() {
    const token = this.opts.token();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  /** POST the file (multipart, fields `file` and `conv`): resolves to {id,name,type,size}. */
  async upload(file, conv) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("conv", conv || "");
    const resp = await fetch(this.opts.url, { method: "POST", headers: this.headers(), body });
    if (!resp.ok) {
      throw new Error("upload " + resp.status);
    }
    const info = await resp.json();
    if (!info || typeof info.id !== "string") {
      throw new Error("upload: no id");
    }
    return info;
  }

  async blob(id) {
    const resp = await fetch(this.opts.url + "/" + encodeURIComponent(id), { headers: this.headers() });
    if (!resp.ok) {
      throw new Error("download " + resp.status);
    }
    return resp.blob();
  }

  async download(file) {
    const data = await this.blob(file.id);
    const url = URL.createObjectURL(new Blob([data], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = file.name || "file";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  /** The element showing `file`: an image inline, anything else a download link. */
  view(file, localUrl) {
    const words = this.opts.words;
    const box = document.createElement("div");
    box.className = "file";
    if (INLINE_IMAGES.test(String(file.type))) {
      const img = document.createElement("img");
      img.className = "inline-image";
      img.alt = String(file.name || "");
      box.appendChild(img);
      if (localUrl) {
        img.src = localUrl;
      } else if (file.id) {
        this.blob(file.id).then((data) => {
          img.src = URL.createObjectURL(data);
        }).catch(() => {
          box.textContent = words.file_unavailable + ": " + String(file.name || "");
        });
      }
      return box;
    }
    const link = document.createElement("a");
    link.className = "download";
    link.href = "#";
    link.textContent = String(file.name || "file") + " (" + humanSize(file.size, this.opts.lang) + ")";
    link.addEventListener("click", (event) => {
      event.preventDefault();
      if (file.id) {
        this.download(file).catch(() => {
          link.textContent = words.file_unavailable + ": " + String(file.name || "");
        });
      }
    });
    box.appendChild(link);
    return box;
  }
}
