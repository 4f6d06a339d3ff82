package idp

import (
	"fmt"
	"time"
)

// Languages are the languages of the texts the service sends a voter,
// those of the voting page (spec/08-identity.md §8.11.5). A voter's
// sign-in names one (StartRequest.Lang); without one, DefaultLang.
var Languages = [4]string{"ky", "ru", "uz", "en"}

// DefaultLang is the language of texts to a voter whose sign-in named none.
const DefaultLang = "en"

// ValidLang reports whether lang is one of Languages.
func ValidLang(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// text is one kind of message to a voter.
type text int

const (
	textCode           text = iota // the one-time code: code, minutes
	textIneligible                 // cannot vote online: reason (a textReason… phrase)
	textNotListed                  // not on the online voter list
	textVotedInPerson              // recorded as having voted in person
	textCredential                 // a credential was issued: time (UTC), reference
	textMarkedInPerson             // an official marked the voter as voted in person: station, time (UTC)
	textReasonNotCitizen
	textReasonUnderAge
	textReasonRightsSuspended
	textReasonOther
	numTexts
)

// texts holds every message the service texts a voter, in every language:
// the only place they are written (the functions below format them, and
// TestTextsOneOwner keeps it so). Uzbek in its official Latin orthography
// (oʻ, gʻ with U+02BB). TestTextsComplete checks that
// each is present, with its placeholders.
var texts = map[string][numTexts]string{
	"en": {
		textCode:                  "evote: your code is %s. It is valid for %d minutes. Never give it to anyone.",
		textIneligible:            "evote: you cannot vote online in this election: %s. Contact your consulate if you think this is wrong.",
		textNotListed:             "evote: you are not on the voter list for online voting in this election. Contact your consulate.",
		textVotedInPerson:         "evote: you are recorded as having voted in person; you cannot vote online. If this is wrong, call the election commission.",
		textCredential:            "evote: a voting credential was issued in your name at %s UTC (reference %s). If this was not you, call the election commission.",
		textMarkedInPerson:        "evote: you were recorded as having voted in person at polling station %s at %s UTC. Any online ballot of yours will not be counted. If this was not you, call the election commission.",
		textReasonNotCitizen:      "the register does not list you as a citizen",
		textReasonUnderAge:        "you are under 18 on election day",
		textReasonRightsSuspended: "your right to vote is suspended",
		textReasonOther:           "the register does not allow it",
	},
	"ru": {
		textCode:                  "evote: ваш код %s. Он действует %d мин. Никому его не сообщайте.",
		textIneligible:            "evote: вы не можете голосовать онлайн на этих выборах: %s. Если это ошибка, обратитесь в консульство.",
		textNotListed:             "evote: вас нет в списке избирателей для голосования онлайн на этих выборах. Обратитесь в консульство.",
		textVotedInPerson:         "evote: отмечено, что вы проголосовали на участке; голосовать онлайн нельзя. Если это ошибка, позвоните в избирательную комиссию.",
		textCredential:            "evote: на ваше имя выдан ключ для голосования в %s UTC (номер %s). Если это были не вы, позвоните в избирательную комиссию.",
		textMarkedInPerson:        "evote: отмечено, что вы проголосовали на избирательном участке %s в %s UTC. Ваш онлайн-бюллетень, если он есть, не будет учтён. Если это были не вы, позвоните в избирательную комиссию.",
		textReasonNotCitizen:      "в реестре вы не значитесь гражданином",
		textReasonUnderAge:        "в день выборов вам не исполнится 18 лет",
		textReasonRightsSuspended: "ваше избирательное право приостановлено",
		textReasonOther:           "реестр этого не допускает",
	},
	"ky": {
		textCode:                  "evote: сиздин кодуңуз %s. Ал %d мүнөт жарактуу. Аны эч кимге бербеңиз.",
		textIneligible:            "evote: бул шайлоодо онлайн добуш бере албайсыз: %s. Ката деп ойлосоңуз, консулдукка кайрылыңыз.",
		textNotListed:             "evote: бул шайлоодо онлайн добуш берүүчүлөрдүн тизмесинде жоксуз. Консулдукка кайрылыңыз.",
		textVotedInPerson:         "evote: шайлоо участкасында добуш бергениңиз катталган; онлайн добуш бере албайсыз. Ката болсо, шайлоо комиссиясына чалыңыз.",
		textCredential:            "evote: %s UTC убагында сиздин атыңызга добуш берүү ачкычы берилди (номери %s). Бул сиз болбосоңуз, шайлоо комиссиясына чалыңыз.",
		textMarkedInPerson:        "evote: %s шайлоо участкасында %s UTC убагында добуш бергениңиз катталды. Онлайн бюллетениңиз болсо, ал эсепке алынбайт. Бул сиз болбосоңуз, шайлоо комиссиясына чалыңыз.",
		textReasonNotCitizen:      "реестрде жаран катары катталган эмессиз",
		textReasonUnderAge:        "шайлоо күнү 18 жашка толо элексиз",
		textReasonRightsSuspended: "шайлоо укугуңуз токтотулган",
		textReasonOther:           "реестр буга жол бербейт",
	},
	"uz": {
		textCode:                  "evote: sizning kodingiz %s. U %d daqiqa amal qiladi. Uni hech kimga bermang.",
		textIneligible:            "evote: bu saylovda onlayn ovoz bera olmaysiz: %s. Xato deb hisoblasangiz, konsullikka murojaat qiling.",
		textNotListed:             "evote: bu saylovda onlayn ovoz beruvchilar roʻyxatida yoʻqsiz. Konsullikka murojaat qiling.",
		textVotedInPerson:         "evote: saylov uchastkasida ovoz berganingiz qayd etilgan; onlayn ovoz bera olmaysiz. Xato boʻlsa, saylov komissiyasiga qoʻngʻiroq qiling.",
		textCredential:            "evote: %s UTC da nomingizga ovoz berish kaliti berildi (raqami %s). Bu siz boʻlmasangiz, saylov komissiyasiga qoʻngʻiroq qiling.",
		textMarkedInPerson:        "evote: %s saylov uchastkasida %s UTC da ovoz berganingiz qayd etildi. Onlayn byulleteningiz boʻlsa, u hisobga olinmaydi. Bu siz boʻlmasangiz, saylov komissiyasiga qoʻngʻiroq qiling.",
		textReasonNotCitizen:      "reyestrda fuqaro sifatida qayd etilmagansiz",
		textReasonUnderAge:        "saylov kuni 18 yoshga toʻlmagansiz",
		textReasonRightsSuspended: "saylov huquqingiz toʻxtatilgan",
		textReasonOther:           "reyestr bunga yoʻl qoʻymaydi",
	},
}

// say formats message t in lang (DefaultLang if lang is not one of
// Languages).
func say(lang string, t text, args ...any) string {
	tx, ok := texts[lang]
	if !ok {
		tx = texts[DefaultLang]
	}
	return fmt.Sprintf(tx[t], args...)
}

// noticeTime is how a notice writes a moment: UTC, to the minute (the
// texts say "UTC").
func noticeTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// codeText is the one-time code's text, valid for ttl.
func codeText(lang, code string, ttl time.Duration) string {
	return say(lang, textCode, code, int(ttl.Minutes()))
}

// notListedText tells a voter who signed in that they are not on the
// online voter list.
func notListedText(lang string) string { return say(lang, textNotListed) }

// votedInPersonText tells a voter who signed in that they are recorded as
// having voted in person.
func votedInPersonText(lang string) string { return say(lang, textVotedInPerson) }

// credentialText tells the voter that a credential was issued in their
// name at issued, with the first characters of their pseudonym as the
// reference.
func credentialText(lang string, issued time.Time, ref string) string {
	return say(lang, textCredential, noticeTime(issued), ref)
}

// markedInPersonText tells the voter that an official marked them as
// having voted in person at station at marked. lang is the voter's last
// online sign-in's ("" gives DefaultLang).
func markedInPersonText(lang, station string, marked time.Time) string {
	return say(lang, textMarkedInPerson, station, noticeTime(marked))
}

// ineligibleText says why (reasonOf's code) the voter cannot vote online.
func ineligibleText(lang, reason string) string {
	r := textReasonOther
	switch reason {
	case "not_citizen":
		r = textReasonNotCitizen
	case "under_age":
		r = textReasonUnderAge
	case "rights_suspended":
		r = textReasonRightsSuspended
	}
	return say(lang, textIneligible, say(lang, r))
}
