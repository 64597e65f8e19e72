// Every string of the pages, in English and French (i18n.js picks one).
// A value is a string with {placeholders}, or a function of them (plurals).
export const STRINGS = {
  en: {
    "invite.button": "Invite",
    "invite.title": "Invite people",
    "invite.text": "Anyone with this link can join the call.",
    "invite.copy": "Copy link",
    "invite.share": "Share",
    "invite.copied": "Link copied",
    "invite.copyFailed": "Could not copy: select the link and copy it.",
    "invite.close": "Close",
    "invite.aloneTitle": "You're the only one here",
    "invite.aloneText": "Send this link to the people you want in the call.",
    "invite.linkLabel": "Call link",
    "invite.shareTitle": "Join my call",
  },
  fr: {
    "invite.button": "Inviter",
    "invite.title": "Inviter des personnes",
    "invite.text": "Toute personne ayant ce lien peut rejoindre l’appel.",
    "invite.copy": "Copier le lien",
    "invite.share": "Partager",
    "invite.copied": "Lien copié",
    "invite.copyFailed": "Copie impossible : sélectionnez le lien et copiez-le.",
    "invite.close": "Fermer",
    "invite.aloneTitle": "Vous êtes la seule personne ici",
    "invite.aloneText": "Envoyez ce lien aux personnes que vous voulez dans l’appel.",
    "invite.linkLabel": "Lien de l’appel",
    "invite.shareTitle": "Rejoignez mon appel",
  },
};
