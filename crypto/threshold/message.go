package threshold

import "fmt"

// A Message is any key-generation or decryption message of this package.
type Message interface {
	Bytes() []byte
}

// ParseMessage decodes any message of spec §5.3 by its kind byte, for a
// board or auditor that reads entries without knowing their type.
func ParseMessage(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	switch b[0] {
	case kindCommitments:
		return ParseCommitments(b)
	case kindEncryptedShares:
		return ParseEncryptedShares(b)
	case kindComplaint:
		return ParseComplaint(b)
	case kindComplaintAnswer:
		return ParseComplaintAnswer(b)
	case kindQualified:
		return ParseQualified(b)
	case kindExtractionCommitments:
		return ParseExtractionCommitments(b)
	case kindExtractionComplaint:
		return ParseExtractionComplaint(b)
	case kindExtractionReveal:
		return ParseExtractionReveal(b)
	case kindDecryptionShare:
		return ParseDecryptionShare(b)
	}
	return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, b[0])
}

// Add decodes a key-generation message (kinds 1-8) and appends it to the
// transcript, in board order. A second Qualified message replaces nothing:
// it is an error, since QUAL is published once.
func (tr *Transcript) Add(b []byte) error {
	m, err := ParseMessage(b)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *Commitments:
		tr.Commitments = append(tr.Commitments, m)
	case *EncryptedShares:
		tr.EncryptedShares = append(tr.EncryptedShares, m)
	case *Complaint:
		tr.Complaints = append(tr.Complaints, m)
	case *ComplaintAnswer:
		tr.Answers = append(tr.Answers, m)
	case *Qualified:
		if tr.Qualified != nil {
			return fmt.Errorf("%w: second Qualified message", ErrMalformed)
		}
		tr.Qualified = m
	case *ExtractionCommitments:
		tr.Extraction = append(tr.Extraction, m)
	case *ExtractionComplaint:
		tr.ExtractionComplaints = append(tr.ExtractionComplaints, m)
	case *ExtractionReveal:
		tr.Reveals = append(tr.Reveals, m)
	default:
		return fmt.Errorf("%w: %T is not a key-generation message", ErrMalformed, m)
	}
	return nil
}
