"""A Google service-account key file whose token endpoint is a loopback stand-in.

google-auth signs a real JWT with the generated key and exchanges it at `token_uri`, so Vertex
clients authenticate against the stand-in exactly as they would against Google.
"""

from __future__ import annotations

import json
from pathlib import Path


def service_account_file(folder: Path, token_uri: str, project: str = "acme-ml") -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = folder / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": "k1", "private_key": pem,
        "client_email": f"ktx@{project}.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri,
    }))  # fmt: skip
    return path
