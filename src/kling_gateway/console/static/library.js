// The account's libraries — elements and voices: its own (a family's list: each creation task
// holds one item in its result), the official presets, create with files sent as Base64, and
// delete. One page for both; KINDS says where each lives and how its items look.

import { call, stream } from "./api.js";
import { el, errorBox, when } from "./dom.js";
import { fileToBase64, showFieldError } from "./schema_form.js";

const TAGS = ["o_101", "o_102", "o_103", "o_104", "o_105", "o_106", "o_107", "o_108"];

function field(id, label, control, path, hint) {
  control.id = id;
  return el("div", { class: "field", "data-field": path }, el("label", { for: id }, label), control,
    hint ? el("div", { class: "hint" }, hint) : null, el("div", { class: "field-error", role: "alert" }));
}

const files = async (input) => Promise.all([...input.files].map(fileToBase64));

export const KINDS = {
  elements: {
    title: "Elements",
    family: "general/advanced-custom-elements",
    presets: "/general/advanced-presets-elements",
    remove: "/general/delete-elements",
    idField: "element_id",
    // the element id is the creation task's id: read as the string task_id, since an id above
    // 2^53 would lose digits as a JSON number
    idOf: (task) => task.task_id,
    itemOf: (task) => task.task_result?.elements?.[0],
    name: (item) => item.element_name,
    about: (item) => [item.element_description, item.reference_type, (item.tag_list ?? []).map((t) => t.tag_id).join(" ")].filter(Boolean).join(" · "),
    preview(item) {
      const image = item.element_image_list?.frontal_image;
      if (image) return el("img", { src: image, alt: `${item.element_name}: frontal image`, class: "thumb", loading: "lazy" });
      const video = item.element_video_list?.refer_videos?.[0]?.video_url;
      return video ? el("video", { src: video, controls: true, preload: "metadata", class: "thumb", "aria-label": `${item.element_name}: reference video` }) : null;
    },
    form() {
      const name = el("input", { type: "text", maxlength: "20", required: true });
      const about = el("input", { type: "text", maxlength: "100", required: true });
      const type = el("select", {}, el("option", { value: "image_refer" }, "images"), el("option", { value: "video_refer" }, "a video"));
      const frontal = el("input", { type: "file", accept: "image/*" });
      const angles = el("input", { type: "file", accept: "image/*", multiple: true });
      const video = el("input", { type: "file", accept: "video/*" });
      const tags = el("fieldset", { "data-field": "tag_list", class: "field" }, el("legend", {}, "Tags"),
        ...TAGS.map((t) => el("label", { class: "check" }, el("input", { type: "checkbox", value: t }), " ", t)),
        el("div", { class: "field-error", role: "alert" }));
      const imageBox = el("div", {}, field("el-frontal", "Frontal image", frontal, "element_image_list.frontal_image"),
        field("el-angles", "Other angles (1–3 images)", angles, "element_image_list.refer_images"));
      const videoBox = el("div", { hidden: true }, field("el-video", "Reference video (3–8 s)", video, "element_video_list.refer_videos"));
      type.addEventListener("change", () => {
        imageBox.hidden = type.value !== "image_refer";
        videoBox.hidden = !imageBox.hidden;
      });
      return {
        controls: [field("el-name", "Name (≤ 20 characters)", name, "element_name"),
          field("el-description", "Description (≤ 100 characters)", about, "element_description"),
          field("el-type", "Made from", type, "reference_type"), imageBox, videoBox, tags],
        async body() {
          const body = { element_name: name.value, element_description: about.value, reference_type: type.value };
          if (type.value === "image_refer") {
            body.element_image_list = {
              frontal_image: (await files(frontal))[0] ?? "",
              refer_images: (await files(angles)).map((image_url) => ({ image_url })),
            };
          } else {
            body.element_video_list = { refer_videos: (await files(video)).map((video_url) => ({ video_url })) };
          }
          const chosen = [...tags.querySelectorAll("input:checked")].map((c) => ({ tag_id: c.value }));
          if (chosen.length) body.tag_list = chosen;
          return body;
        },
      };
    },
  },
  voices: {
    title: "Voices",
    family: "general/custom-voices",
    presets: "/general/presets-voices",
    remove: "/general/delete-voices",
    idField: "voice_id",
    idOf: (task, item) => (typeof item?.voice_id === "string" ? item.voice_id : task.task_id), // never a rounded number
    itemOf: (task) => task.task_result?.voices?.[0],
    name: (item) => item.voice_name,
    about: (item) => `${item.owned_by ?? ""}`,
    preview: (item) => (item.trial_url ? el("audio", { src: item.trial_url, controls: true, preload: "none", "aria-label": `${item.voice_name}: sample` }) : null),
    form() {
      const name = el("input", { type: "text", maxlength: "20", required: true });
      const url = el("input", { type: "text", placeholder: "a URL: mp3, wav, mp4 or mov, 5–30 s of one voice" });
      const file = el("input", { type: "file", accept: "audio/*,video/*", "aria-label": "voice_url: choose a file (sent as Base64)" });
      file.addEventListener("change", async () => { if (file.files[0]) url.value = (await files(file))[0]; });
      const videoId = el("input", { type: "text" });
      const box = field("vo-url", "Voice recording (URL or file)", url, "voice_url");
      box.querySelector("input").after(file);
      return {
        controls: [field("vo-name", "Name (≤ 20 characters)", name, "voice_name"), box,
          field("vo-video", "…or the id of a video with sound", videoId, "video_id", "a v2.6 video with sound, an avatar or a lip-sync video")],
        async body() {
          const body = { voice_name: name.value };
          if (url.value.trim()) body.voice_url = url.value.trim();
          if (videoId.value.trim()) body.video_id = videoId.value.trim();
          return body;
        },
      };
    },
  },
};

function itemRow(kind, task, onDelete) {
  const item = task.task_status === "succeed" ? kind.itemOf(task) : null;
  const state = item?.status ?? task.task_status;
  const id = kind.idOf(task, item);
  return el("tr", { "data-id": String(id), "data-state": state },
    el("td", {}, item ? kind.preview(item) : null),
    el("td", {}, el("strong", {}, item ? kind.name(item) : task.task_id), el("div", { class: "hint" }, String(id))),
    el("td", { class: "wide" }, item ? kind.about(item) : task.task_status_msg ?? ""),
    el("td", { class: "state" }, state),
    el("td", { class: "wide" }, when(task.created_at)),
    el("td", {}, onDelete && item && state === "succeed"
      ? el("button", { type: "button", "aria-label": `Delete ${kind.name(item)} (${id})`, onclick: () => onDelete(id) }, "Delete") : null));
}

function table(id, rows, empty) {
  return el("div", { class: "table-wrap" }, el("table", { id },
    el("thead", {}, el("tr", {}, ...["Preview", "Name", "About", "State", "Created", ""].map((h, i) => el("th", { scope: "col", class: i === 2 || i === 4 ? "wide" : null }, h)))),
    el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6" }, empty))]))));
}

export async function libraryPage(kindName, signal, render) {
  const kind = KINDS[kindName];
  const error = el("div", { id: "lib-error" });
  const own = el("div", { id: "lib-own" });
  const presets = el("div", { id: "lib-presets" });
  const made = kind.form();
  const form = el("form", { id: "lib-form", "aria-label": `Create ${kind.title.toLowerCase().slice(0, -1)}` },
    ...made.controls, el("button", { class: "primary", type: "submit" }, "Create"));
  render(signal, el("h1", {}, kind.title), error,
    el("h2", {}, "Yours"), own, el("h2", {}, "Create"), form, el("h2", {}, "Official presets"), presets);

  async function refresh() {
    try {
      const tasks = await call("GET", `/${kind.family}?pageNum=1&pageSize=100`);
      own.replaceChildren(table("lib-own-table", tasks.map((t) => itemRow(kind, t, remove)), "None yet."));
    } catch (err) {
      own.replaceChildren(errorBox(err));
    }
  }
  async function remove(id) {
    error.replaceChildren();
    try {
      await call("POST", kind.remove, { body: { [kind.idField]: id } });
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
    await refresh();
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.replaceChildren();
    showFieldError(form, "");
    let created;
    try {
      created = await call("POST", `/${kind.family}`, { body: await made.body() });
    } catch (err) {
      showFieldError(form, err.message);
      error.replaceChildren(errorBox(err));
      return;
    }
    form.reset();
    await refresh();
    // follow the creation until it ends (the stream closes after the terminal status)
    await stream(`/${kind.family}/${created.task_id}/events`, () => {}, signal).catch(() => {});
    if (!signal.aborted) await refresh();
  });
  await refresh();
  try {
    const list = await call("GET", `${kind.presets}?pageNum=1&pageSize=100`);
    presets.replaceChildren(table("lib-preset-table", list.map((t) => itemRow(kind, t, null)), "No presets."));
  } catch (err) {
    presets.replaceChildren(errorBox(err));
  }
}
