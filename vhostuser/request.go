package vhostuser

import "strconv"

// Request is a vhost-user front-end request code (the spec's "Front-end
// message types").
type Request uint32

// Front-end request codes, numbered as in QEMU docs/interop/vhost-user.rst
// ("Front-end message types"). None ends the session.
const (
	None                Request = 0
	GetFeatures         Request = 1
	SetFeatures         Request = 2
	SetOwner            Request = 3
	ResetOwner          Request = 4
	SetMemTable         Request = 5
	SetLogBase          Request = 6
	SetLogFD            Request = 7
	SetVringNum         Request = 8
	SetVringAddr        Request = 9
	SetVringBase        Request = 10
	GetVringBase        Request = 11
	SetVringKick        Request = 12
	SetVringCall        Request = 13
	SetVringErr         Request = 14
	GetProtocolFeatures Request = 15
	SetProtocolFeatures Request = 16
	GetQueueNum         Request = 17
	SetVringEnable      Request = 18
	SendRARP            Request = 19
	NetSetMTU           Request = 20
	SetBackendReqFD     Request = 21
	IOTLBMsg            Request = 22
	SetVringEndian      Request = 23
	GetConfig           Request = 24
	SetConfig           Request = 25
	CreateCryptoSession Request = 26
	CloseCryptoSession  Request = 27
	PostcopyAdvise      Request = 28
	PostcopyListen      Request = 29
	PostcopyEnd         Request = 30
	GetInflightFD       Request = 31
	SetInflightFD       Request = 32
	GPUSetSocket        Request = 33
	ResetDevice         Request = 34
	VringKick           Request = 35
	GetMaxMemSlots      Request = 36
	AddMemReg           Request = 37
	RemMemReg           Request = 38
	SetStatus           Request = 39
	GetStatus           Request = 40
)

var requestNames = [...]string{
	None:                "NONE",
	GetFeatures:         "GET_FEATURES",
	SetFeatures:         "SET_FEATURES",
	SetOwner:            "SET_OWNER",
	ResetOwner:          "RESET_OWNER",
	SetMemTable:         "SET_MEM_TABLE",
	SetLogBase:          "SET_LOG_BASE",
	SetLogFD:            "SET_LOG_FD",
	SetVringNum:         "SET_VRING_NUM",
	SetVringAddr:        "SET_VRING_ADDR",
	SetVringBase:        "SET_VRING_BASE",
	GetVringBase:        "GET_VRING_BASE",
	SetVringKick:        "SET_VRING_KICK",
	SetVringCall:        "SET_VRING_CALL",
	SetVringErr:         "SET_VRING_ERR",
	GetProtocolFeatures: "GET_PROTOCOL_FEATURES",
	SetProtocolFeatures: "SET_PROTOCOL_FEATURES",
	GetQueueNum:         "GET_QUEUE_NUM",
	SetVringEnable:      "SET_VRING_ENABLE",
	SendRARP:            "SEND_RARP",
	NetSetMTU:           "NET_SET_MTU",
	SetBackendReqFD:     "SET_BACKEND_REQ_FD",
	IOTLBMsg:            "IOTLB_MSG",
	SetVringEndian:      "SET_VRING_ENDIAN",
	GetConfig:           "GET_CONFIG",
	SetConfig:           "SET_CONFIG",
	CreateCryptoSession: "CREATE_CRYPTO_SESSION",
	CloseCryptoSession:  "CLOSE_CRYPTO_SESSION",
	PostcopyAdvise:      "POSTCOPY_ADVISE",
	PostcopyListen:      "POSTCOPY_LISTEN",
	PostcopyEnd:         "POSTCOPY_END",
	GetInflightFD:       "GET_INFLIGHT_FD",
	SetInflightFD:       "SET_INFLIGHT_FD",
	GPUSetSocket:        "GPU_SET_SOCKET",
	ResetDevice:         "RESET_DEVICE",
	VringKick:           "VRING_KICK",
	GetMaxMemSlots:      "GET_MAX_MEM_SLOTS",
	AddMemReg:           "ADD_MEM_REG",
	RemMemReg:           "REM_MEM_REG",
	SetStatus:           "SET_STATUS",
	GetStatus:           "GET_STATUS",
}

// String returns the spec name of r without its VHOST_USER_ prefix, or
// REQUEST_<n> for a code this package does not know.
func (r Request) String() string {
	if int64(r) < int64(len(requestNames)) && requestNames[r] != "" {
		return requestNames[r]
	}
	return "REQUEST_" + strconv.FormatUint(uint64(r), 10)
}

// FeatureProtocolFeatures is VHOST_USER_F_PROTOCOL_FEATURES, the virtio
// feature bit 30 that this package adds to Backend.Features.
const FeatureProtocolFeatures = 1 << 30

// Vhost-user protocol feature bits (VHOST_USER_PROTOCOL_F_*).
const (
	// ProtocolFeatureMQ (bit 0): GET_QUEUE_NUM reports the queue count.
	ProtocolFeatureMQ = 1 << 0
	// ProtocolFeatureLogShmfd (bit 1): SET_LOG_BASE shares the dirty log
	// of live migration as a memory file.
	ProtocolFeatureLogShmfd = 1 << 1
	// ProtocolFeatureReplyAck (bit 3): FlagNeedReply asks for an
	// acknowledgement.
	ProtocolFeatureReplyAck = 1 << 3
	// ProtocolFeatureBackendReq (bit 5, formerly SLAVE_REQ): the front end
	// hands over a back-end request channel with SET_BACKEND_REQ_FD.
	ProtocolFeatureBackendReq = 1 << 5
	// ProtocolFeatureConfig (bit 9): GET_CONFIG and SET_CONFIG; QEMU's
	// vhost-user-blk requires it.
	ProtocolFeatureConfig = 1 << 9
	// ProtocolFeatureInflightShmfd (bit 12): GET_INFLIGHT_FD and
	// SET_INFLIGHT_FD share an area that tracks the requests in flight
	// across a back-end restart.
	ProtocolFeatureInflightShmfd = 1 << 12
	// ProtocolFeatureResetDevice (bit 13): RESET_DEVICE.
	ProtocolFeatureResetDevice = 1 << 13
	// ProtocolFeatureConfigureMemSlots (bit 15): GET_MAX_MEM_SLOTS,
	// ADD_MEM_REG and REM_MEM_REG.
	ProtocolFeatureConfigureMemSlots = 1 << 15
)

// OfferedProtocolFeatures is the set of protocol features
// GET_PROTOCOL_FEATURES returns.
const OfferedProtocolFeatures = ProtocolFeatureMQ | ProtocolFeatureLogShmfd | ProtocolFeatureReplyAck |
	ProtocolFeatureBackendReq | ProtocolFeatureConfig | ProtocolFeatureInflightShmfd |
	ProtocolFeatureResetDevice | ProtocolFeatureConfigureMemSlots

// MaxMemSlots is the GET_MAX_MEM_SLOTS answer: the most memory regions a
// session maps at once (libvhost-user's value).
const MaxMemSlots = 509

// BackendRequest is a back-end request code, sent on the back-end request
// channel (the spec's "Back-end message types").
type BackendRequest uint32

// BackendConfigChangeMsg is VHOST_USER_BACKEND_CONFIG_CHANGE_MSG
// (formerly SLAVE_CONFIG_CHANGE_MSG): the device configuration changed;
// the front end reads it again with GET_CONFIG. No payload.
const BackendConfigChangeMsg BackendRequest = 2
