package bundle

// ExampleRule is a small valid Sigma rule (curl fetching from a paste
// site) with the id ExampleRuleID: a rule set to publish in tests and
// examples.
const ExampleRule = `title: Curl to a paste site
id: 0f0e0d0c-0b0a-4908-8706-050403020100
logsource:
  category: process_creation
detection:
  sel:
    Image|endswith: /curl
    CommandLine|contains: pastebin
  condition: sel
level: medium
`

// ExampleRuleID is ExampleRule's id.
const ExampleRuleID = "0f0e0d0c-0b0a-4908-8706-050403020100"
