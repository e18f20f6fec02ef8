// Accounts: the first-run setup and sign-in forms, your account (password, API tokens),
// the users (admins), and who may use a knowledge base (its Members tab, admins).

import { api, setCsrf } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { report, showError } from "../errors.js";
import { formatDate, getLang, setLang, t } from "../i18n.js";
import { set, state } from "../store.js";
import { $, copyButton, field, h, icon, toast } from "../ui.js";

export function logo() {
  return h("span.logo", { "aria-hidden": "true" }, "S");
}

// The buttons that switch the interface's language; `changed()` redraws the page.
export function langSwitch(changed) {
  return h(
    "div.lang-switch",
    { role: "group", "aria-label": t("language") },
    ["es", "en"].map((code) =>
      h(
        "button.link",
        {
          type: "button",
          lang: code,
          "aria-pressed": String(getLang() === code),
          onclick: () => {
            setLang(code);
            changed();
          },
        },
        code === "es" ? "Español" : "English",
      ),
    ),
  );
}

// The first-run setup (accounts on, no admin yet) or the sign-in form, in #auth;
// `signedIn()` when it worked, `changed()` to redraw after a language change.
export function showAuth({ signedIn, changed }) {
  document.querySelector("#auth").replaceChildren();
  const setup = state.auth && state.auth.setup_needed;
  const box = $("#auth");
  $("#app").hidden = true;
  box.hidden = false;
  const error = h("div.form-error", { role: "alert" });
  const name = h("input", { name: "name", autocomplete: "username", required: true, maxlength: 64 });
  const password = h("input", { name: "password", type: "password", autocomplete: setup ? "new-password" : "current-password", required: true, minlength: setup ? 8 : null });
  const confirm = setup ? h("input", { name: "confirm", type: "password", autocomplete: "new-password", required: true }) : null;
  const code = setup ? h("input", { name: "setup_code", autocomplete: "off" }) : null;
  const form = h(
    "form.card.auth-card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.replaceChildren();
        if (setup && password.value !== confirm.value) {
          error.textContent = t("passwordsDiffer");
          return;
        }
        try {
          const body = { name: name.value.trim(), password: password.value };
          if (setup && code.value.trim()) body.setup_code = code.value.trim();
          const auth = await api("POST", setup ? "/auth/setup" : "/auth/login", body);
          set({ auth });
          setCsrf(auth.csrf_token);
          await signedIn();
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h("h1.brand", {}, logo(), "Sabio"),
    h("h2", {}, setup ? t("setupTitle") : t("loginTitle")),
    setup ? h("p.muted", {}, t("setupHelp")) : null,
    field(t("userName"), name),
    field(t("password"), password, setup ? t("passwordRule") : null),
    setup ? field(t("passwordAgain"), confirm) : null,
    setup ? field(t("setupCode"), code, t("setupCodeHelp")) : null,
    error,
    h("button.primary", { type: "submit" }, setup ? t("createAdmin") : t("signIn")),
    langSwitch(changed),
  );
  box.replaceChildren(h("main.auth-main", {}, form));
  name.focus();
}

export async function signOut(after) {
  try {
    await api("POST", "/auth/logout");
  } catch (err) {
    report(err);
  }
  set({ auth: await api("GET", "/auth/status") });
  setCsrf(null);
  after();
}

// Your account: who you are, your password, your API tokens.
export async function accountSection(signedOut) {
  const tokens = await api("GET", "/auth/tokens");
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const tokenName = h("input", { required: true, maxlength: 64, placeholder: "n8n", "aria-label": t("tokenName") });
  const shown = h("div.token-shown", { hidden: true });
  const list = h("ul.token-list");
  const passwordError = h("div.form-error", { role: "alert" });
  const drawTokens = (items) =>
    list.replaceChildren(
      ...(items.length
        ? items.map((tok) =>
            h(
              "li",
              {},
              h("strong", {}, tok.name),
              h("span.muted", {}, `${t("created")} ${formatDate(tok.created_at)} · ${tok.last_used_at ? `${t("lastUsed")} ${formatDate(tok.last_used_at)}` : t("neverUsed")}`),
              h(
                "button.danger.small",
                {
                  type: "button",
                  onclick: async () => {
                    const sure = await confirmDialog({ title: t("revoke"), message: t("revokeConfirm", { name: tok.name }), confirmLabel: t("revoke") });
                    if (!sure) return;
                    try {
                      await api("DELETE", `/auth/tokens/${tok.id}`);
                      drawTokens(await api("GET", "/auth/tokens"));
                    } catch (err) {
                      report(err);
                    }
                  },
                },
                t("revoke"),
              ),
            ),
          )
        : [h("li.muted", {}, t("noTokens"))]),
    );
  drawTokens(tokens);
  const user = state.auth.user;
  return h(
    "section.card",
    {},
    h("h2", {}, t("account")),
    h("p", {}, t("signedInAs", { name: user.name }), " · ", user.admin ? t("admin") : t("member"), " ", h("button.link", { type: "button", onclick: () => signOut(signedOut) }, t("signOut"))),
    h(
      "form.grid",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          passwordError.replaceChildren();
          try {
            await api("POST", "/auth/password", { current: current.value, new: fresh.value });
            current.value = fresh.value = "";
            toast(t("passwordChanged"), "info");
          } catch (err) {
            showError(passwordError, err);
          }
        },
      },
      h("input", { type: "text", autocomplete: "username", value: user.name, readonly: true, hidden: true }),
      field(t("currentPassword"), current),
      field(t("newPassword"), fresh),
      passwordError,
      h("div.actions", {}, h("button", { type: "submit" }, t("changePassword"))),
    ),
    h("h3", {}, t("apiTokens")),
    h("p.muted", {}, t("apiTokensHelp")),
    list,
    h(
      "form.inline-form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            const made = await api("POST", "/auth/tokens", { name: tokenName.value.trim() });
            tokenName.value = "";
            shown.hidden = false;
            const code = h("code.token", {}, made.token);
            shown.replaceChildren(h("p", {}, t("tokenOnce")), code, copyButton(made.token, code));
            drawTokens(await api("GET", "/auth/tokens"));
          } catch (err) {
            report(err);
          }
        },
      },
      tokenName,
      h("button", { type: "submit" }, t("createToken")),
    ),
    shown,
    pairingBlock(async () => drawTokens(await api("GET", "/auth/tokens"))),
  );
}

// Pairing Sabio's browser extension: a short code to type into it, which it exchanges
// for a token of its own (listed above, revocable there).
function pairingBlock(paired) {
  const shown = h("div.token-shown", { hidden: true, "aria-live": "polite" });
  return h(
    "div.pairing",
    {},
    h("h3", {}, t("pairExtension")),
    h("p.muted", {}, t("pairExtensionHelp")),
    h(
      "button",
      {
        type: "button",
        "data-pair": "",
        onclick: async () => {
          try {
            const made = await api("POST", "/extension/pairing");
            shown.hidden = false;
            shown.replaceChildren(
              h("p", {}, t("pairingCode", { minutes: Math.round(made.expires_in / 60) })),
              h("code.token.pairing-code", {}, made.code),
              h("button.link", { type: "button", onclick: paired }, t("pairingDone")),
            );
          } catch (err) {
            report(err);
          }
        },
      },
      t("showPairingCode"),
    ),
    shown,
  );
}

// Every account (admins): add one, delete one.
export async function usersSection() {
  const list = h("ul.token-list");
  const draw = async () => {
    const users = await api("GET", "/auth/users");
    list.replaceChildren(
      ...users.map((u) =>
        h(
          "li",
          {},
          h("strong", {}, u.name),
          h("span.muted", {}, u.admin ? t("admin") : t("member")),
          u.id === state.auth.user.id
            ? h("span.muted", {}, t("you"))
            : h(
                "button.danger.small",
                {
                  type: "button",
                  "aria-label": `${t("delete")} ${u.name}`,
                  onclick: async () => {
                    const sure = await confirmDialog({ title: t("deleteUser"), message: t("deleteUserConfirm", { name: u.name }), confirmLabel: t("delete") });
                    if (!sure) return;
                    try {
                      await api("DELETE", `/auth/users/${u.id}`);
                      await draw();
                    } catch (err) {
                      report(err);
                    }
                  },
                },
                t("delete"),
              ),
        ),
      ),
    );
  };
  await draw();
  const name = h("input", { required: true, maxlength: 64, autocomplete: "off" });
  const password = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const isAdmin = h("input", { type: "checkbox" });
  const error = h("div.form-error", { role: "alert" });
  return h(
    "section.card",
    {},
    h("h2", {}, t("users")),
    h("p.muted", {}, t("usersHelp")),
    list,
    h(
      "form.grid",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.replaceChildren();
          try {
            await api("POST", "/auth/users", { name: name.value.trim(), password: password.value, admin: isAdmin.checked });
            name.value = password.value = "";
            isAdmin.checked = false;
            await draw();
          } catch (err) {
            showError(error, err);
          }
        },
      },
      field(t("userName"), name, t("userNameRule")),
      field(t("password"), password, t("passwordRule")),
      h("label.check", {}, isAdmin, t("makeAdmin")),
      error,
      h("div.actions", {}, h("button", { type: "submit" }, t("addUser"))),
    ),
  );
}

// Who may use knowledge base `kb` (admins, accounts on): each member's read or write
// access, changed at once; members added from the accounts.
export async function membersTab(kb) {
  const [members, users] = await Promise.all([api("GET", `/kbs/${encodeURIComponent(kb.id)}/members`), api("GET", "/auth/users")]);
  const body = h("div.kb-members");
  const access = (value, onchange, label) =>
    h(
      "select",
      { onchange, "aria-label": label },
      ["read", "write"].map((level) => h("option", { value: level, selected: value === level }, t(`access.${level}`))),
    );
  const draw = (list) => {
    const others = users.filter((u) => !u.admin && !list.some((m) => m.user_id === u.id));
    const who = h("select", { "aria-label": t("member") }, others.map((u) => h("option", { value: String(u.id) }, u.name)));
    const level = access("read", null, t("accessLevel"));
    const change = async (userId, value) => {
      try {
        await api("PUT", `/kbs/${encodeURIComponent(kb.id)}/members/${userId}`, { access: value });
        draw(await api("GET", `/kbs/${encodeURIComponent(kb.id)}/members`));
      } catch (err) {
        report(err);
      }
    };
    body.replaceChildren(
      h("p.muted", {}, t("membersHelp")),
      list.length
        ? h(
            "ul.member-list",
            {},
            list.map((m) =>
              h(
                "li",
                {},
                h("strong", {}, m.name),
                access(m.access, (e) => change(m.user_id, e.target.value), `${t("accessLevel")}: ${m.name}`),
                h(
                  "button.icon-button.small",
                  {
                    type: "button",
                    "aria-label": `${t("removeMember")} ${m.name}`,
                    title: t("removeMember"),
                    onclick: async () => {
                      try {
                        await api("DELETE", `/kbs/${encodeURIComponent(kb.id)}/members/${m.user_id}`);
                        draw(await api("GET", `/kbs/${encodeURIComponent(kb.id)}/members`));
                      } catch (err) {
                        report(err);
                      }
                    },
                  },
                  icon("trash"),
                ),
              ),
            ),
          )
        : h("p.muted", {}, t("noMembers")),
      others.length
        ? h("form.inline-form", { onsubmit: (e) => (e.preventDefault(), change(who.value, level.value)) }, who, level, h("button", { type: "submit" }, icon("plus"), t("addMember")))
        : h("p.muted.small", {}, t("noMoreUsers")),
    );
  };
  draw(members);
  return body;
}
