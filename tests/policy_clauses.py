"""The promises of the privacy policy (shared/product/privacy-policy.txt) that software can
keep, each with the words it comes from. Tests name the clauses they show with
`@pytest.mark.policy("clause-id")`; `make compliance` prints the matrix."""

CLAUSES: dict[str, str] = {
    "account-email": "Email address (required for account creation)",
    "password-hashing": "Encrypted password; secure authentication and password hashing",
    "preferences": "Account preferences and settings",
    "technical-info": "IP address and approximate location; browser; device and operating system; time",
    "usage-data": "Prompts, generated video metadata, credits usage and transaction history",
    "minimum-sharing": "We only share the minimum necessary information to provide the service",
    "retention-free-7": "Free users: Videos stored for 7 days",
    "retention-basic-30": "Basic plan: Videos stored for 30 days",
    "retention-standard-60": "Standard plan: Videos stored for 60 days",
    "retention-pro-90": "Pro plan: Videos stored for 90 days",
    "download-anytime": "You can download your videos anytime during the storage period",
    "account-until-deletion": "Account information is retained until you delete your account",
    "erasure-30-days": "After account deletion, personal data is removed within 30 days",
    "transaction-records-7y": "Payment and transaction records are retained for 7 years",
    "respond-30-days": "We will respond to your request within 30 days",
    "access-portability": (
        "Request a copy of your personal data; download your videos and account information"
    ),
    "correction": "Update or correct inaccurate personal information; modify settings and preferences",
    "deletion": "Request deletion of your account and personal data",
    "withdraw-consent": "Withdraw consent for data processing where consent was the basis",
    "object-marketing": "Object to certain data processing activities; opt-out of marketing communications",
    "encryption": "Encryption of data in transit and at rest",
    "access-control": "Storage is encrypted and access-controlled",
    "under-13": "Not intended for users under 13; we do not knowingly collect their information",
    "parent-report": "A parent or guardian reports a child: we will delete such information promptly",
    "policy-changes": "Notice of material changes by email; the 'Last Updated' date",
    "support-3-business-days": "We will respond to your inquiry within 3 business days",
    "video-processors": "Your prompts and images are sent to one of the video processors named here",
}
