package ballot

import (
	"fmt"
	"slices"
)

// SampleManifest returns a complete example election in the shape of the
// Kyrgyz pilot: three village councils (aiyl kenesh) elected at once, each
// with its own single-choice contest, plus one multi-select question shared
// by all. The demo, the tests and the spec's example record use it; trustees
// the identity service's key and the board's anchors (log keys, witnesses)
// are supplied by the caller since their keys are generated on their own
// machines.
func SampleManifest(electionID string, trustees []Trustee, threshold uint32, identityKey [32]byte, board BoardAnchors) *Manifest {
	// The manifest owns its witness list: a caller changing it must not
	// change the anchors it was made from.
	board.Witnesses = slices.Clone(board.Witnesses)
	villages := []struct {
		id             string
		ky, ru, uz, en string
	}{
		{"ala-archa", "Ала-Арча", "Ала-Арча", "Ala-Archa", "Ala-Archa"},
		{"kara-suu", "Кара-Суу", "Кара-Суу", "Qorasuv", "Kara-Suu"},
		{"tash-dobo", "Таш-Добо", "Таш-Добо", "Tosh-Dobo", "Tash-Dobo"},
	}
	candidates := [][3]string{
		{"Асанов Бакыт", "Асанов Бакыт", "Asanov Bakyt"},
		{"Токтогулова Айгүл", "Токтогулова Айгуль", "Toktogulova Aigul"},
		{"Юсупов Фаррух", "Юсупов Фаррух", "Yusupov Farrukh"},
		{"Жээнбекова Нургүл", "Жээнбекова Нургуль", "Zheenbekova Nurgul"},
		{"Мамытов Эрлан", "Мамытов Эрлан", "Mamytov Erlan"},
	}
	m := &Manifest{
		ElectionID: electionID,
		Title: Text{
			Ky: "Айыл кеңештеринин депутаттарын шайлоо (чет өлкөдөгү шайлоочулар)",
			Ru: "Выборы депутатов айылных кенешей (голосование из-за рубежа)",
			Uz: "Ayil kengashlari deputatlari saylovi (xorijdagi saylovchilar)",
			En: "Village council elections (voting from abroad)",
		},
		VotingStart:  1798761600, // 2027-01-01T00:00:00Z
		VotingEnd:    1799366400, // one week later
		Revote:       LastBallotCounts,
		Trustees:     trustees,
		Board:        board,
		Threshold:    threshold,
		Mixes:        uint32(len(trustees)),
		MinAnonymity: 3,
		IdentityKey:  identityKey,
		Authority: Authority{
			Name: Text{
				Ky: "Кыргыз Республикасынын Шайлоо жана референдум өткөрүү боюнча борбордук комиссиясы",
				Ru: "Центральная комиссия по выборам и проведению референдумов Кыргызской Республики",
				Uz: "Qirgʻiz Respublikasi Saylov va referendum oʻtkazish boʻyicha markaziy komissiyasi",
				En: "Central Commission for Elections and Referenda of the Kyrgyz Republic",
			},
			Help: Text{
				Ky: "Жардам: +996 312 000 000, help@example.kg",
				Ru: "Помощь: +996 312 000 000, help@example.kg",
				Uz: "Yordam: +996 312 000 000, help@example.kg",
				En: "Help: +996 312 000 000, help@example.kg",
			},
			Emblem: []byte(sampleEmblem),
		},
	}
	for vi, v := range villages {
		m.Constituencies = append(m.Constituencies, Constituency{
			ID:   v.id,
			Name: Text{Ky: v.ky + " айыл аймагы", Ru: "Айыльный аймак " + v.ru, Uz: v.uz + " qishloq hududi", En: v.en + " rural district"},
		})
		c := Contest{
			ID:            "council-" + v.id,
			Title:         Text{Ky: v.ky + " айыл кеңешинин депутаты", Ru: "Депутат айылного кенеша " + v.ru, Uz: v.uz + " ayil kengashi deputati", En: v.en + " village council member"},
			Kind:          SingleChoice,
			MaxSelections: 1,
		}
		for ci := 0; ci < 5; ci++ {
			k := candidates[(ci+vi)%len(candidates)]
			c.Candidates = append(c.Candidates, Candidate{
				ID:   fmt.Sprintf("c%d", ci+1),
				Name: Text{Ky: k[0], Ru: k[1], Uz: k[2], En: k[2]},
			})
		}
		m.Contests = append(m.Contests, c)
	}
	m.Contests = append(m.Contests, Contest{
		ID:    "priorities",
		Title: Text{Ky: "Айыл бюджетинин артыкчылыктары (эң көп 2)", Ru: "Приоритеты сельского бюджета (не более 2)", Uz: "Qishloq byudjeti ustuvorliklari (koʻpi bilan 2)", En: "Village budget priorities (at most 2)"},
		Kind:  MultiSelect,
		Candidates: []Candidate{
			{ID: "roads", Name: Text{Ky: "Жолдор", Ru: "Дороги", Uz: "Yoʻllar", En: "Roads"}},
			{ID: "water", Name: Text{Ky: "Ичүүчү суу", Ru: "Питьевая вода", Uz: "Ichimlik suvi", En: "Drinking water"}},
			{ID: "school", Name: Text{Ky: "Мектеп", Ru: "Школа", Uz: "Maktab", En: "School"}},
			{ID: "clinic", Name: Text{Ky: "Медпункт", Ru: "Медпункт", Uz: "Tibbiyot punkti", En: "Clinic"}},
		},
		MaxSelections: 2,
	})
	for _, v := range villages {
		m.BallotStyles = append(m.BallotStyles, BallotStyle{
			ID:           "style-" + v.id,
			Constituency: v.id,
			Contests:     []string{"council-" + v.id, "priorities"},
		})
	}
	return m
}

// sampleEmblem is a plain emblem for sample elections: a sun of 40 rays
// on a red disc (not any state's emblem).
const sampleEmblem = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-50 -50 100 100">` +
	`<circle r="48" fill="#d52b1e"/>` +
	`<g stroke="#ffd700" stroke-width="2.2">` +
	`<path d="M0-40V40M-40 0H40M-28.3-28.3 28.3 28.3M-28.3 28.3 28.3-28.3"/>` +
	`<path d="M-15.3-37 15.3 37M-37-15.3 37 15.3M-37 15.3 37-15.3M-15.3 37 15.3-37"/>` +
	`</g><circle r="18" fill="#ffd700"/><circle r="12" fill="#d52b1e"/></svg>`
