// Sabio's extension, the service worker: the toolbar button opens the side panel, and the
// context-menu entries open it with what to do (read by panel.js from session storage).
// It makes no request of its own: only the panel talks to Sabio (and, for a link's entry,
// reads the linked page the user pointed at, as the tab would).

const api = globalThis.browser ?? globalThis.chrome;

const MENUS = [
  { id: "ask-selection", title: "menuAskSelection", contexts: ["selection"] },
  { id: "save-selection", title: "menuSaveSelection", contexts: ["selection"] },
  { id: "save-page", title: "menuSavePage", contexts: ["page"] },
  { id: "summarize", title: "menuSummarize", contexts: ["page"] },
  { id: "translate", title: "menuTranslate", contexts: ["page"] },
  { id: "ask-link", title: "menuAskLink", contexts: ["link"] },
  { id: "save-link", title: "menuSaveLink", contexts: ["link"] },
];

api.runtime.onInstalled.addListener(() => {
  api.contextMenus.removeAll(() => {
    for (const menu of MENUS) {
      api.contextMenus.create({ id: menu.id, title: api.i18n.getMessage(menu.title), contexts: menu.contexts });
    }
  });
  api.sidePanel?.setPanelBehavior({ openPanelOnActionClick: true });
});

api.contextMenus.onClicked.addListener((info, tab) => {
  // open first: a side panel opens only within the user's gesture
  if (api.sidePanel) api.sidePanel.open({ tabId: tab.id });
  else api.sidebarAction?.open();
  api.storage.session.set({ pending: { action: info.menuItemId, tabId: tab.id, selection: info.selectionText ?? "", link: info.linkUrl ?? "", at: Date.now() } });
});
