"""The org's schema as data (``data/demo_org.yaml``) and the describe documents built from it.

Describe output carries the same attribute set per field and per object as the recorded real
responses in ``reference/salesforce-describe/``; attributes the YAML does not give take the value a
real org shows for that field type.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEMO_ORG = Path(__file__).resolve().parent.parent / "data" / "demo_org.yaml"

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "time": "xsd:time",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
}
TEXT_TYPES = {"string", "combobox", "picklist", "textarea", "email", "phone", "url", "multipicklist"}
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    base = base[:-2] + " ID" if base.endswith("Id") and len(base) > 2 else base
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).replace("_", " ")


@dataclass
class FieldDef:
    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    default: Any = None
    defaulted_on_create: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    child_relationship: str | None = None
    cascade_delete: bool = False
    picklist: list[str] = field(default_factory=list)
    restricted_picklist: bool = False
    name_field: bool = False
    name_pointing: bool = False
    id_lookup: bool = False
    digits: int = 0
    extra_type_info: str | None = None
    compute: str | None = None
    permissionable: bool = False
    search_prefilterable: bool = False

    @property
    def required(self) -> bool:
        """A create must give a value (what a real org reports as REQUIRED_FIELD_MISSING)."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    def describe(self) -> dict[str, Any]:
        t = self.type
        text = t in TEXT_TYPES
        long_text = t == "textarea" and self.length > 255
        picklist_values = [
            {"active": True, "defaultValue": v == self.default, "label": v, "validFor": None, "value": v}
            for v in self.picklist
        ]
        return {
            "aggregatable": not long_text and t != "boolean",
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": self.length * 3 if text else (18 if t in ("id", "reference") else 0),
            "calculated": False,
            "calculatedFormula": None,
            "cascadeDelete": False,
            "caseSensitive": False,
            "compoundFieldName": None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": bool(self.default) if t == "boolean" else self.default,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": self.extra_type_info or ("plaintextarea" if t == "textarea" else None),
            "filterable": not long_text,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": t not in ("datetime", "double", "currency", "percent", "combobox") and not long_text,
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup or t in ("id", "email") or self.external_id,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if (text or t in ("id", "reference")) else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.name_pointing,
            "nillable": self.nillable,
            "permissionable": self.permissionable,
            "picklistValues": picklist_values,
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": 18 if t in ("double", "currency", "percent") else 0,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted_picklist,
            "scale": 0,
            "searchPrefilterable": self.search_prefilterable,
            "soapType": SOAP_TYPES.get(t, "xsd:string"),
            "sortable": not long_text,
            "type": t,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    label: str
    label_plural: str
    custom: bool
    fields: dict[str, FieldDef]
    rules: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)  # the YAML it came from (for snapshots)
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_lower = {k.lower(): f for k, f in self.fields.items()}

    def field(self, name: str) -> FieldDef | None:
        """Field by name, case-insensitively (SOQL and REST bodies are)."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    @property
    def has_owner(self) -> bool:
        return "OwnerId" in self.fields

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def global_entry(self, version: str) -> dict[str, Any]:
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": True,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": True,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": False,
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": True,
            "updateable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str, child_relationships: list[dict[str, Any]]) -> dict[str, Any]:
        entry = self.global_entry(version)
        entry.update(
            {
                "actionOverrides": [],
                "childRelationships": child_relationships,
                "compactLayoutable": True,
                "defaultImplementation": None,
                "extendedBy": None,
                "extendsInterfaces": None,
                "fields": [f.describe() for f in self.fields.values()],
                "implementedBy": None,
                "implementsInterfaces": None,
                "listviewable": None,
                "lookupLayoutable": None,
                "namedLayoutInfos": [],
                "networkScopeFieldName": None,
                "recordTypeInfos": [
                    {
                        "active": True,
                        "available": True,
                        "defaultRecordTypeMapping": True,
                        "developerName": "Master",
                        "master": True,
                        "name": "Master",
                        "recordTypeId": "012000000000000AAA",
                        "urls": {
                            "layout": f"/services/data/v{version}/sobjects/{self.name}/describe/layouts/"
                            "012000000000000AAA"
                        },
                    }
                ],
                "searchLayoutable": True,
                "sobjectDescribeOption": "FULL",
                "supportedScopes": [
                    {"label": "All " + self.label_plural.lower(), "name": "everything"},
                    {"label": "My " + self.label_plural.lower(), "name": "mine"},
                ],
            }
        )
        return dict(sorted(entry.items()))


def _field(name: str, spec: dict[str, Any], custom_object: bool) -> FieldDef:
    t = spec.get("type", "string")
    custom = bool(spec.get("custom", name.endswith("__c")))
    default = spec.get("default", False if t == "boolean" else None)
    return FieldDef(
        name=name,
        type=t,
        label=spec.get("label") or _label(name),
        length=int(spec.get("length", 0)),
        nillable=bool(spec.get("nillable", t != "boolean")),
        createable=bool(spec.get("createable", True)),
        updateable=bool(spec.get("updateable", True)),
        custom=custom,
        external_id=bool(spec.get("externalId", False)),
        unique=bool(spec.get("unique", False)),
        default=default,
        defaulted_on_create=bool(spec.get("defaultedOnCreate", t == "boolean" or default is not None)),
        reference_to=list(spec.get("referenceTo", [])),
        relationship_name=spec.get("relationshipName")
        or (name[:-3] + "__r" if t == "reference" and name.endswith("__c") else None),
        child_relationship=spec.get("childRelationship"),
        cascade_delete=bool(spec.get("cascadeDelete")),
        picklist=[str(v) for v in spec.get("picklist", [])],
        restricted_picklist=bool(spec.get("restrictedPicklist", False)),
        name_field=bool(spec.get("nameField", False)),
        name_pointing=bool(spec.get("namePointing", False)),
        id_lookup=bool(spec.get("idLookup", custom_object and spec.get("nameField", False))),
        digits=int(spec.get("digits", 9 if t == "int" else 0)),
        extra_type_info=spec.get("extraTypeInfo"),
        compute=spec.get("compute"),
        permissionable=bool(
            spec.get("permissionable", custom and t != "boolean" and spec.get("nillable", True))
        ),
        search_prefilterable=bool(spec.get("searchPrefilterable", False)),
    )


def _system_fields() -> dict[str, FieldDef]:
    ro: dict[str, Any] = {
        "createable": False,
        "updateable": False,
        "nillable": False,
        "defaulted_on_create": True,
    }
    return {
        "Id": FieldDef("Id", "id", "Record ID", length=18, **ro),
        "IsDeleted": FieldDef("IsDeleted", "boolean", "Deleted", default=False, **ro),
        "CreatedDate": FieldDef("CreatedDate", "datetime", "Created Date", **ro),
        "CreatedById": FieldDef(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            reference_to=["User"],
            relationship_name="CreatedBy",
            **ro,
        ),
        "LastModifiedDate": FieldDef("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        "LastModifiedById": FieldDef(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            reference_to=["User"],
            relationship_name="LastModifiedBy",
            **ro,
        ),
        "SystemModstamp": FieldDef("SystemModstamp", "datetime", "System Modstamp", **ro),
    }


def build_object(name: str, spec: dict[str, Any], field_sets: dict[str, dict[str, Any]]) -> ObjectDef:
    custom = bool(spec.get("custom", name.endswith("__c")))
    system = _system_fields()
    fields: dict[str, FieldDef] = {"Id": system.pop("Id")}
    fields["Id"].label = f"{spec.get('label', name)} ID"
    specs = dict(spec.get("fields", {}))
    for set_name in spec.get("field_sets", []):
        specs.update(field_sets.get(set_name, {}))
    for fname, fspec in specs.items():
        f = _field(fname, fspec or {}, custom)
        if f.type == "reference" and f.length == 0:
            f.length = 18
        fields[fname] = f
    # Real describes list the system fields after the object's own, except Id which comes first.
    fields.update(system)
    return ObjectDef(
        name=name,
        key_prefix=str(spec["keyPrefix"]),
        label=spec.get("label", name),
        label_plural=spec.get("labelPlural", spec.get("label", name) + "s"),
        custom=custom,
        fields=fields,
        rules=spec.get("rules"),
        spec=dict(spec),
    )


@dataclass
class OrgSchema:
    org: dict[str, Any]
    users: list[dict[str, Any]]
    objects: dict[str, ObjectDef]
    field_sets: dict[str, dict[str, Any]]

    def object(self, name: str) -> ObjectDef | None:
        low = name.lower()
        for k, o in self.objects.items():
            if k.lower() == low:
                return o
        return None

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        for o in self.objects.values():
            if o.key_prefix == prefix:
                return o
        return None

    def add_objects(self, specs: dict[str, Any]) -> list[str]:
        for name, spec in specs.items():
            self.objects[name] = build_object(name, spec, self.field_sets)
        return list(specs)

    def child_relationships(self, target: str) -> list[dict[str, Any]]:
        out = []
        for o in self.objects.values():
            for f in o.fields.values():
                if target in f.reference_to and f.type == "reference":
                    out.append(
                        {
                            "cascadeDelete": f.cascade_delete,
                            "childSObject": o.name,
                            "deprecatedAndHidden": False,
                            "field": f.name,
                            "junctionIdListNames": [],
                            "junctionReferenceTo": [],
                            "relationshipName": f.child_relationship,
                            "restrictedDelete": False,
                        }
                    )
        return out

    def to_spec(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "users": self.users,
            "field_sets": self.field_sets,
            "objects": {k: o.spec for k, o in self.objects.items()},
        }


@functools.lru_cache(maxsize=8)
def _read_yaml(path: str) -> dict[str, Any]:
    # Parsed once per process: every sandbox reset reloads the schema, and parsing costs ~50 ms.
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def load_schema(source: dict[str, Any] | str | Path | None = None) -> OrgSchema:
    """Read the org schema from a YAML file (default: the demo org) or an already parsed mapping."""
    if source is None or isinstance(source, str | Path):
        data = copy.deepcopy(_read_yaml(str(Path(source or DEMO_ORG).resolve())))
    else:
        data = source
    field_sets = data.get("field_sets", {})
    objects = {name: build_object(name, spec, field_sets) for name, spec in data["objects"].items()}
    return OrgSchema(
        org=data["org"], users=list(data.get("users", [])), objects=objects, field_sets=field_sets
    )
