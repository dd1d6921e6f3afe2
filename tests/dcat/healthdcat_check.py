#!/usr/bin/env python3
"""HealthDCAT-AP checks on a catalogue export (Turtle or JSON-LD).

    healthdcat_check.py [--full ID[,ID...]] [--reference dataset_health.ttl] FILE...

The DCAT-AP 3 SHACL shapes (validate.sh) check DCAT-AP; this checks what the
hub's export claims on top of it for HealthDCAT-AP, listed in README.md. Every
property and class IRI checked here is first looked up in the HealthDCAT-AP
example (dataset_health.ttl), so a typo in a namespace fails instead of
silently checking nothing.

--full (or HDH_DCAT_FULL): dataset identifiers described in full (published
data with statistics, legal basis, purpose, coding systems, typical ages):
for them these properties are required, not only checked when present.

Exit status: 0 all checks pass, 1 a check failed, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS as DCT, FOAF, RDF, RDFS, SKOS, XSD

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
DPV = Namespace("https://w3id.org/dpv#")
DQV = Namespace("http://www.w3.org/ns/dqv#")
OA = Namespace("http://www.w3.org/ns/oa#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")

EU = "http://publications.europa.eu/resource/authority/"
EHDS = URIRef("http://data.europa.eu/eli/reg/2025/327/oj")
ELI_LEGAL_RESOURCE = URIRef("http://data.europa.eu/eli/ontology#LegalResource")

# The property IRIs this script checks; each must be a predicate of the
# HealthDCAT-AP example.
CHECKED_PROPERTIES = [
    DCT.identifier, DCT.title, DCT.description, DCT.publisher, DCT.creator,
    DCT.accessRights, DCT.accrualPeriodicity, DCT.temporal, DCT.spatial, DCT.type,
    DCT.issued, DCT.modified, DCT.format, DCT.license, DCT.rights,
    DCAT.contactPoint, DCAT.distribution, DCAT.accessURL, DCAT.downloadURL,
    DCAT.mediaType, DCAT.startDate, DCAT.endDate, DCAT.keyword, DCAT.theme,
    DCATAP.applicableLegislation,
    FOAF.name, FOAF.mbox, VCARD.fn, VCARD.hasEmail,
    HEALTH.numberOfRecords, HEALTH.numberOfUniqueIndividuals,
    HEALTH.minTypicalAge, HEALTH.maxTypicalAge, HEALTH.hasCodingSystem,
    HEALTH.populationCoverage,
    DPV.hasLegalBasis, DPV.hasPurpose,
    DQV.hasQualityAnnotation, OA.hasBody, OA.motivatedBy,
    ADMS.versionNotes,
]
# The classes checked; each must be an rdf:type object in the example.
CHECKED_CLASSES = [
    DCAT.Dataset, DCAT.Distribution, DCT.PeriodOfTime, DCT.RightsStatement,
    DCT.Frequency, DCT.Location, DCT.MediaTypeOrExtent, DCT.MediaType,
    DCT.LicenseDocument, FOAF.Agent, VCARD.Kind, SKOS.Concept,
]


def default_reference() -> Path:
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "dcat" / "dataset_health.ttl"


class Checker:
    def __init__(self, path: str, graph: Graph, full: set[str]) -> None:
        self.path = path
        self.g = graph
        self.full = full
        self.failures: list[str] = []
        self.passed = 0

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok

    def values(self, s, p) -> list:
        return list(self.g.objects(s, p))

    def one(self, s, p, what: str):
        v = self.values(s, p)
        self.check(len(v) == 1, f"{what}: expected exactly one {p.n3(self.g.namespace_manager)}, got {len(v)}")
        return v[0] if v else None

    def typed(self, node, cls) -> bool:
        return (node, RDF.type, cls) in self.g

    def count(self, s, p, what: str, required: bool) -> int | None:
        v = self.values(s, p)
        name = p.n3(self.g.namespace_manager)
        if not v:
            self.check(not required, f"{what}: {name} missing")
            return None
        if not self.check(len(v) == 1, f"{what}: more than one {name}"):
            return None
        lit = v[0]
        if not self.check(
            isinstance(lit, Literal) and lit.datatype == XSD.nonNegativeInteger,
            f"{what}: {name} must be an xsd:nonNegativeInteger literal, got {lit!r}",
        ):
            return None
        n = int(lit)
        self.check(n >= 0, f"{what}: {name} negative")
        return n

    def eu_iri(self, node, vocabulary: str, what: str) -> bool:
        return self.check(
            isinstance(node, URIRef) and str(node).startswith(f"{EU}{vocabulary}/"),
            f"{what}: {node} is not in the EU {vocabulary} vocabulary",
        )

    def dataset(self, ds) -> None:
        ident = self.one(ds, DCT.identifier, f"{ds}")
        name = str(ident) if ident is not None else str(ds)
        full = name in self.full
        what = f"dataset {name}"

        # Texts.
        for p in (DCT.title, DCT.description):
            v = self.values(ds, p)
            self.check(len(v) >= 1 and all(isinstance(x, Literal) for x in v), f"{what}: {p} missing or not literal")
            tags = {x.language for x in v if isinstance(x, Literal)}
            self.check(tags <= {None, "fr", "en"}, f"{what}: {p} tagged other than fr/en: {tags}")
            self.check(tags == {None} or "fr" in tags, f"{what}: {p} has no French text")

        # Publisher and creator: agents with a name.
        publisher = self.one(ds, DCT.publisher, what)
        if publisher is not None:
            self.check(self.typed(publisher, FOAF.Agent), f"{what}: publisher is not a foaf:Agent")
            self.check(any(str(n).strip() for n in self.values(publisher, FOAF.name)),
                       f"{what}: publisher has no foaf:name")
        for creator in self.values(ds, DCT.creator):
            self.check(self.typed(creator, FOAF.Agent) and bool(self.values(creator, FOAF.name)),
                       f"{what}: creator is not a named foaf:Agent")

        # Contact point with an e-mail address.
        contacts = self.values(ds, DCAT.contactPoint)
        self.check(len(contacts) >= 1, f"{what}: no dcat:contactPoint")
        for c in contacts:
            self.check(self.typed(c, VCARD.Kind), f"{what}: contact point is not a vcard:Kind")
            self.check(bool(self.values(c, VCARD.fn)), f"{what}: contact point has no vcard:fn")
            emails = self.values(c, VCARD.hasEmail)
            self.check(len(emails) >= 1 and all(isinstance(e, URIRef) and str(e).startswith("mailto:") and "@" in str(e)
                                                for e in emails),
                       f"{what}: contact point needs vcard:hasEmail <mailto:…>")

        # Access rights, frequency, spatial, type: EU vocabularies.
        rights = self.one(ds, DCT.accessRights, what)
        if rights is not None and self.eu_iri(rights, "access-right", what):
            self.check(str(rights).rsplit("/", 1)[1] in ("PUBLIC", "RESTRICTED", "NON_PUBLIC"),
                       f"{what}: unknown access right {rights}")
            self.check(self.typed(rights, DCT.RightsStatement), f"{what}: {rights} not typed dct:RightsStatement")
        freq = self.one(ds, DCT.accrualPeriodicity, what)
        if freq is not None:
            self.eu_iri(freq, "frequency", what)
        for place in self.values(ds, DCT.spatial):
            self.eu_iri(place, "country", what)
        for t in self.values(ds, DCT.type):
            if self.eu_iri(t, "dataset-type", what):
                self.check(str(t).rsplit("/", 1)[1] in ("PERSONAL_DATA", "SYNTHETIC_DATA", "NON_PERSONAL_DATA"),
                           f"{what}: unexpected dataset type {t}")
        for theme in self.values(ds, DCAT.theme):
            self.eu_iri(theme, "data-theme", what)

        # The EHDS regulation.
        laws = self.values(ds, DCATAP.applicableLegislation)
        self.check(EHDS in laws, f"{what}: dcatap:applicableLegislation <{EHDS}> missing")
        self.check(self.typed(EHDS, ELI_LEGAL_RESOURCE), f"{what}: <{EHDS}> not typed eli:LegalResource")

        # Period of time.
        for period in self.values(ds, DCT.temporal):
            self.check(self.typed(period, DCT.PeriodOfTime), f"{what}: dct:temporal is not a dct:PeriodOfTime")
            start = self.values(period, DCAT.startDate)
            end = self.values(period, DCAT.endDate)
            dates_ok = all(isinstance(d, Literal) and d.datatype == XSD.date for d in start + end)
            self.check(dates_ok, f"{what}: dcat:startDate/endDate must be xsd:date")
            if dates_ok and start and end:
                self.check(start[0].toPython() <= end[0].toPython(), f"{what}: period starts after it ends")

        # HealthDCAT-AP numbers.
        records = self.count(ds, HEALTH.numberOfRecords, what, full)
        individuals = self.count(ds, HEALTH.numberOfUniqueIndividuals, what, full)
        if records is not None and individuals is not None:
            self.check(individuals <= records, f"{what}: more unique individuals than records")
        self.check(individuals is None or records is not None,
                   f"{what}: numberOfUniqueIndividuals without numberOfRecords")
        lo = self.count(ds, HEALTH.minTypicalAge, what, full)
        hi = self.count(ds, HEALTH.maxTypicalAge, what, full)
        if lo is not None and hi is not None:
            self.check(lo <= hi, f"{what}: minTypicalAge {lo} > maxTypicalAge {hi}")
        systems = self.values(ds, HEALTH.hasCodingSystem)
        self.check(not full or len(systems) >= 1, f"{what}: no healthdcatap:hasCodingSystem")
        self.check(all(isinstance(s, URIRef) for s in systems), f"{what}: hasCodingSystem values must be IRIs")
        for pop in self.values(ds, HEALTH.populationCoverage):
            self.check(isinstance(pop, Literal), f"{what}: populationCoverage must be a literal")

        # Legal basis and purpose (DPV): an IRI, or a typed node with a label.
        for prop, cls in ((DPV.hasLegalBasis, DPV.LegalBasis), (DPV.hasPurpose, DPV.Purpose)):
            vals = self.values(ds, prop)
            self.check(not full or len(vals) >= 1, f"{what}: {prop} missing")
            for v in vals:
                self.check(isinstance(v, URIRef) or (self.typed(v, cls) and bool(self.values(v, RDFS.label))),
                           f"{what}: {prop} value must be a DPV IRI or a labelled {cls}")

        # Quality annotations.
        for qa in self.values(ds, DQV.hasQualityAnnotation):
            self.check(self.typed(qa, DQV.QualityAnnotation), f"{what}: annotation is not a dqv:QualityAnnotation")
            self.check(DQV.qualityAssessment in self.values(qa, OA.motivatedBy),
                       f"{what}: annotation not oa:motivatedBy dqv:qualityAssessment")
            bodies = self.values(qa, OA.hasBody)
            self.check(len(bodies) >= 1 and all(self.values(b, RDF.value) for b in bodies),
                       f"{what}: annotation needs an oa:hasBody with rdf:value")

        # Distributions: an access URL each; the data distribution under the EHDS.
        dists = self.values(ds, DCAT.distribution)
        self.check(len(dists) >= 1, f"{what}: no dcat:distribution")
        data_dists = 0
        for d in dists:
            self.check(self.typed(d, DCAT.Distribution), f"{what}: {d} is not a dcat:Distribution")
            self.check(len(self.values(d, DCAT.accessURL)) >= 1, f"{what}: {d} has no dcat:accessURL")
            for f in self.values(d, DCT.format):
                self.eu_iri(f, "file-type", f"{what} {d}")
            for lic in self.values(d, DCT.license):
                self.eu_iri(lic, "licence", f"{what} {d}")
            if EHDS in self.values(d, DCATAP.applicableLegislation):
                data_dists += 1
        self.check(data_dists >= 1, f"{what}: no distribution under the EHDS regulation")

        if full:
            self.check(bool(self.values(ds, ADMS.versionNotes)), f"{what}: no adms:versionNotes")

    def catalog(self, cat) -> None:
        what = f"catalogue {cat}"
        for p in (DCT.title, DCT.description):
            self.check(bool(self.values(cat, p)), f"{what}: {p} missing")
        pub = self.one(cat, DCT.publisher, what)
        if pub is not None:
            self.check(self.typed(pub, FOAF.Agent) and bool(self.values(pub, FOAF.name)),
                       f"{what}: publisher is not a named foaf:Agent")
        for ds in self.values(cat, DCAT.dataset):
            self.check(self.typed(ds, DCAT.Dataset), f"{what}: {ds} listed but not described")
        for view in self.g.subjects(RDF.type, HYDRA.PartialCollectionView):
            self.check(bool(self.values(view, HYDRA.first)) and bool(self.values(view, HYDRA.last)),
                       f"{what}: hydra view {view} lacks first/last")
            total = self.values(view, HYDRA.totalItems)
            self.check(len(total) == 1 and int(total[0]) >= len(self.values(cat, DCAT.dataset)),
                       f"{what}: hydra:totalItems missing or below the page's datasets")

    def run(self) -> None:
        datasets = sorted(set(self.g.subjects(RDF.type, DCAT.Dataset)), key=str)
        self.check(len(datasets) >= 1, "no dcat:Dataset in the file")
        for ds in datasets:
            self.dataset(ds)
        for cat in self.g.subjects(RDF.type, DCAT.Catalog):
            self.catalog(cat)
        found = {str(i) for ds in datasets for i in self.values(ds, DCT.identifier)}
        # A file holding one of the --full datasets describes it in full (checked
        # in dataset()); a file without any of them is fine (another dataset).
        self.full_found = sorted(self.full & found)
        self.datasets = len(datasets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--full", default=os.environ.get("HDH_DCAT_FULL", ""))
    parser.add_argument("--reference", default=os.environ.get("HEALTHDCAT_EXAMPLE", str(default_reference())))
    args = parser.parse_args()
    full = {x.strip() for x in args.full.split(",") if x.strip()}

    reference = Path(args.reference)
    if not reference.is_file():
        print(f"healthdcat_check: HealthDCAT-AP example not found at {reference} "
              "(set HEALTHDCAT_EXAMPLE)", file=sys.stderr)
        return 2
    example = Graph().parse(reference, format="turtle")
    example_predicates = set(example.predicates())
    example_classes = set(example.objects(None, RDF.type))
    unknown = [p for p in CHECKED_PROPERTIES if p not in example_predicates]
    unknown += [c for c in CHECKED_CLASSES if c not in example_classes]
    if unknown:
        print("healthdcat_check: IRIs not used by the HealthDCAT-AP example "
              f"({reference}): {', '.join(map(str, unknown))}", file=sys.stderr)
        return 1

    status = 0
    for path in args.files:
        fmt = "json-ld" if path.endswith((".jsonld", ".json")) else "turtle"
        try:
            g = Graph().parse(path, format=fmt)
        except Exception as e:  # noqa: BLE001 - any parse error is a usage error here
            print(f"healthdcat_check: {path}: cannot parse: {e}", file=sys.stderr)
            status = max(status, 2)
            continue
        c = Checker(path, g, full)
        c.run()
        for f in c.failures:
            print(f"HEALTHDCAT FAIL {path}: {f}")
        print(f"healthdcat_check {path}: datasets={c.datasets} full={','.join(c.full_found) or '-'} checks={c.passed + len(c.failures)} "
              f"failed={len(c.failures)}")
        if c.failures:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
