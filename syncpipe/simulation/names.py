"""Names a real marketplace tenant would send: departments and people in Chinese, Japanese and Latin
script, so that every layer sees non-ASCII text in bodies, signatures, keys and answers.
"""

from __future__ import annotations

import random

_DEPARTMENTS = (
    "研发部",
    "财务部",
    "市场部",
    "人力资源部",
    "销售部",
    "法务部",
    "行政部",
    "客服中心",
    "产品部",
    "运维部",
    "测试部",
    "采购部",
    "営業部",
    "開発部",
    "総務部",
    "経理部",
    "人事部",
    "品質保証部",
    "マーケティング部",
    "情報システム部",
    "Engineering",
    "Finance",
    "Marketing",
    "Sales",
    "Legal",
    "Operations",
    "Customer Success",
    "Data Science",
    "Security",
)
_TEAM_SUFFIXES = ("一组", "二组", "三组", "华东区", "华南区", "第一課", "第二課", "Team A", "Team B", "EMEA", "APAC")
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "欧阳", "司马")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "建华")
_LATIN_FIRST = ("Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jonas", "Kenji")
_LATIN_LAST = ("Martin", "Müller", "García", "Rossi", "Dubois", "Smith", "Nowak", "Sato", "Silva", "O'Brien")
_PINYIN = ("wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun")
_POSITIONS = ("工程师", "高级工程师", "经理", "总监", "会计", "销售代表", "主任", "Engineer", "Analyst", "Manager")
_CITIES = ("北京", "上海", "深圳", "杭州", "成都", "東京", "大阪", "Berlin", "Paris", "Singapore")


def department_name(rng: random.Random, depth: int) -> str:
    """A top-level department gets a plain name; deeper ones usually a team suffix."""
    base = rng.choice(_DEPARTMENTS)
    if depth == 0 or rng.random() < 0.3:
        return base
    return f"{base} {rng.choice(_TEAM_SUFFIXES)}"


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    return f"{rng.choice(_LATIN_FIRST)} {rng.choice(_LATIN_LAST)}"


def login_name(rng: random.Random, serial: int) -> str:
    """Unique per tenant thanks to `serial`; the rest only makes it look like a login."""
    return f"{rng.choice(_PINYIN)}.{rng.choice(_PINYIN)}{serial:04d}"


def position(rng: random.Random) -> str:
    return rng.choice(_POSITIONS)


def work_place(rng: random.Random) -> str:
    return rng.choice(_CITIES)


_COMPANY_STEMS = ("华云", "星河", "青松", "東海", "さくら", "Nordlicht", "Acme", "Blue Harbor")
_COMPANY_FORMS = ("科技有限公司", "股份有限公司", "株式会社", "GmbH", "Ltd.", "S.A.")


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(_COMPANY_STEMS)}{rng.choice(_COMPANY_FORMS)}"
